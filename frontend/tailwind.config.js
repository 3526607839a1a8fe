/** Colours follow Telegram's theme parameters, made readable (src/theme.ts → `--app-*` variables,
 *  set by src/telegram.ts before the first render; the fallbacks are Telegram Web's day palette). */
const v = (name, fallback) => `var(--app-${name}, ${fallback})`

export default {
  content: ['./index.html', './src/**/*.{ts,tsx}'],
  theme: {
    extend: {
      colors: {
        page: v('page', '#f1f1f4'),
        section: v('section', '#ffffff'),
        field: v('field', '#ededed'),
        tint: v('tint', '#e4eef8'),
        text: v('text', '#000000'),
        hint: v('hint', '#6d7175'),
        header: v('header', '#6d7175'),
        link: v('link', '#2481cc'),
        accent: v('accent', '#2481cc'),
        'accent-text': v('accent-text', '#ffffff'),
        'accent-fg': v('accent-fg', '#2481cc'),
        danger: v('danger', '#d32f2f'),
        'danger-soft': v('danger-soft', '#fdf0f0'),
        line: v('line', '#d6d6d6'),
      },
    },
  },
  plugins: [],
}
