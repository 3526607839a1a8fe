/** Colours follow Telegram's theme parameters (CSS variables set in src/telegram.ts). */
export default {
  content: ['./index.html', './src/**/*.{ts,tsx}'],
  theme: {
    extend: {
      colors: {
        bg: 'var(--tg-bg, #ffffff)',
        'bg-2': 'var(--tg-secondary-bg, #f1f1f4)',
        text: 'var(--tg-text, #111111)',
        hint: 'var(--tg-hint, #707579)',
        link: 'var(--tg-link, #2481cc)',
        accent: 'var(--tg-button, #2481cc)',
        'accent-text': 'var(--tg-button-text, #ffffff)',
        danger: 'var(--tg-destructive, #e53935)',
        // Opacity modifiers (`/20`) do not work on var() colours; these mixes stand in for them.
        line: 'color-mix(in srgb, var(--tg-hint, #707579) 25%, transparent)',
        'line-strong': 'color-mix(in srgb, var(--tg-hint, #707579) 45%, transparent)',
        'danger-soft': 'color-mix(in srgb, var(--tg-destructive, #e53935) 10%, transparent)',
        'danger-line': 'color-mix(in srgb, var(--tg-destructive, #e53935) 40%, transparent)',
        'bg-glass': 'color-mix(in srgb, var(--tg-bg, #ffffff) 95%, transparent)',
      },
    },
  },
  plugins: [],
}
