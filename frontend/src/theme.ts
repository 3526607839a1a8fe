// The app's colours from Telegram's theme parameters, made readable: Telegram's own palettes put
// hint and accent text below WCAG's 4.5:1 on some backgrounds (iOS light: #999999 on white is
// 2.85:1), so every text colour is moved towards the main text colour, and the button towards
// black or white, only as far as 4.5:1 needs. Pure functions; telegram.ts applies the result.

export type ThemeParams = Partial<Record<string, string>>

/** What the UI paints with (CSS variables `--app-<name>`, Tailwind colours of the same names). */
export type Palette = {
  /** Page background (Telegram's secondary background, as in its own grouped lists). */
  page: string
  /** Cards (`section_bg_color`). */
  section: string
  /** Inputs, chips and placeholders on cards and on the page. */
  field: string
  /** Secondary buttons: the link colour lightly tinted into the card colour (visible on cards
   *  and on the page alike). */
  tint: string
  text: string
  /** Secondary text (`subtitle_text_color`, else `hint_color`). */
  hint: string
  /** Section titles on the page (`section_header_text_color`). */
  header: string
  link: string
  /** Primary buttons and the text on them. */
  accent: string
  'accent-text': string
  /** Accent-coloured text and icons (`accent_text_color`). */
  'accent-fg': string
  danger: string
  'danger-soft': string
  /** Separators and outlines (not text). */
  line: string
}

export type Scheme = 'light' | 'dark'

/** Telegram Web's day and night palettes, used outside Telegram and for missing keys. */
const DEFAULTS: Record<Scheme, Record<string, string>> = {
  light: {
    bg_color: '#ffffff',
    secondary_bg_color: '#f1f1f4',
    section_bg_color: '#ffffff',
    text_color: '#000000',
    hint_color: '#707579',
    link_color: '#2481cc',
    button_color: '#2481cc',
    button_text_color: '#ffffff',
    accent_text_color: '#2481cc',
    destructive_text_color: '#e53935',
  },
  dark: {
    bg_color: '#17212b',
    secondary_bg_color: '#0e1621',
    section_bg_color: '#17212b',
    text_color: '#f5f5f5',
    hint_color: '#8a9aa9',
    link_color: '#6ab3f3',
    button_color: '#5288c1',
    button_text_color: '#ffffff',
    accent_text_color: '#6ab2f2',
    destructive_text_color: '#ec3942',
  },
}

export const MIN_CONTRAST = 4.5

type Rgb = [number, number, number]

/** `#rgb` or `#rrggbb` → [r, g, b]; null for anything else. */
export function parseHex(value: string | undefined): Rgb | null {
  const m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(value?.trim() ?? '')
  if (!m) return null
  const hex = m[1].length === 3 ? [...m[1]].map((c) => c + c).join('') : m[1]
  return [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16)) as Rgb
}

function toHex(rgb: Rgb): string {
  return `#${rgb.map((c) => Math.round(Math.min(255, Math.max(0, c))).toString(16).padStart(2, '0')).join('')}`
}

/** WCAG relative luminance. */
export function luminance([r, g, b]: Rgb): number {
  const lin = (c: number) => {
    const s = c / 255
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4
  }
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

export function contrastRgb(a: Rgb, b: Rgb): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x)
  return (hi + 0.05) / (lo + 0.05)
}

/** WCAG contrast ratio of two hex colours (1 … 21). */
export function contrast(a: string, b: string): number {
  const [x, y] = [parseHex(a), parseHex(b)]
  return x && y ? contrastRgb(x, y) : 1
}

/** `a` moved towards `b` by `t` (0 … 1), in sRGB. */
export function mix(a: string, b: string, t: number): string {
  const [x, y] = [parseHex(a), parseHex(b)]
  if (!x || !y) return a
  return toHex([0, 1, 2].map((i) => x[i] + (y[i] - x[i]) * t) as Rgb)
}

/** `fg` moved towards `towards` in small steps until it reaches `min` against every background. */
export function readable(fg: string, backgrounds: string[], towards: string, min = MIN_CONTRAST): string {
  for (let step = 0; step <= 20; step++) {
    const candidate = mix(fg, towards, step / 20)
    if (backgrounds.every((bg) => contrast(candidate, bg) >= min)) return candidate
  }
  return towards
}

export function isDark(hex: string): boolean {
  const rgb = parseHex(hex)
  return rgb ? luminance(rgb) < 0.2 : false
}

/** The palette for Telegram's `params` (or the day/night defaults when Telegram gave none). */
export function buildPalette(params: ThemeParams, fallback: Scheme): { palette: Palette; scheme: Scheme } {
  const given = Object.fromEntries(Object.entries(params).filter(([, v]) => parseHex(v)))
  const scheme: Scheme = given.bg_color ? (isDark(given.bg_color) ? 'dark' : 'light') : fallback
  const c = { ...DEFAULTS[scheme], ...given } as Record<string, string>
  const section = c.section_bg_color ?? c.bg_color
  const page = c.secondary_bg_color && contrast(c.secondary_bg_color, section) > 1.02 ? c.secondary_bg_color : c.bg_color
  const text = readable(c.text_color, [page, section], scheme === 'dark' ? '#ffffff' : '#000000', 7)
  const field = mix(section, text, 0.07)
  const dangerSoft = mix(section, c.destructive_text_color, 0.1)
  const tint = mix(section, c.link_color, 0.12)
  const surfaces = [page, section, field, dangerSoft, tint]
  const hint = readable(c.subtitle_text_color ?? c.hint_color, surfaces, text)
  const buttonText = c.button_text_color
  const accent = readable(c.button_color, [buttonText], isDark(buttonText) ? '#ffffff' : '#000000')
  return {
    scheme,
    palette: {
      page,
      section,
      field,
      tint,
      text,
      hint,
      header: readable(c.section_header_text_color ?? hint, [page, section], text),
      link: readable(c.link_color, surfaces, text),
      accent,
      'accent-text': buttonText,
      'accent-fg': readable(c.accent_text_color ?? c.link_color, surfaces, text),
      danger: readable(c.destructive_text_color, surfaces, text),
      'danger-soft': dangerSoft,
      line: mix(section, text, 0.16),
    },
  }
}
