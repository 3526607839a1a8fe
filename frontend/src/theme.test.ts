import { describe, expect, it } from 'vitest'
import palettes from '../e2e/palettes.json'
import { buildPalette, contrast, MIN_CONTRAST, mix, readable } from './theme'

const TEXTS = ['text', 'hint', 'link', 'accent-fg', 'danger'] as const
const SURFACES = ['page', 'section', 'field', 'tint', 'danger-soft'] as const

describe('buildPalette', () => {
  const cases: [string, Record<string, string>, 'light' | 'dark'][] = [
    ...Object.entries(palettes).map(([name, params]) => [name, params, 'light'] as [string, Record<string, string>, 'light']),
    ['browser light', {}, 'light'],
    ['browser dark', {}, 'dark'],
  ]

  it.each(cases)('%s: every text colour reads at 4.5:1 on every surface', (_, params, fallback) => {
    const { palette } = buildPalette(params, fallback)
    for (const fg of TEXTS) {
      for (const bg of SURFACES) {
        expect(contrast(palette[fg], palette[bg]), `${fg} on ${bg}`).toBeGreaterThanOrEqual(MIN_CONTRAST)
      }
    }
    expect(contrast(palette.header, palette.page)).toBeGreaterThanOrEqual(MIN_CONTRAST)
    expect(contrast(palette['accent-text'], palette.accent), 'button text').toBeGreaterThanOrEqual(MIN_CONTRAST)
  })

  it('fixes what Telegram gives too faint and keeps what already reads', () => {
    const ios = palettes['ios-light']
    expect(contrast(ios.subtitle_text_color, ios.section_bg_color)).toBeLessThan(3)
    const { palette, scheme } = buildPalette(ios, 'dark')
    expect(scheme).toBe('light')
    expect(palette.page).toBe('#efeff4')
    expect(palette.section).toBe('#ffffff')
    expect(palette.text).toBe('#000000')
    expect(palette.hint).not.toBe('#999999')
    // Android's light button (#50a8eb under white text, 2.6:1) is darkened just enough.
    const android = buildPalette(palettes['android-light'], 'light').palette
    expect(android.accent).not.toBe('#50a8eb')
    expect(contrast(android.accent, '#ffffff')).toBeLessThan(5.5)
    expect(buildPalette(palettes['ios-dark'], 'light').scheme).toBe('dark')
  })

  it('ignores values that are not colours', () => {
    const { palette } = buildPalette({ bg_color: 'red; background: url(x)', text_color: '#123' }, 'light')
    expect(palette.section).toBe('#ffffff')
    expect(palette.text).toBe('#112233')
  })
})

describe('colour math', () => {
  it('computes WCAG contrast and mixes in sRGB', () => {
    expect(contrast('#000000', '#ffffff')).toBeCloseTo(21, 5)
    expect(contrast('#999999', '#ffffff')).toBeCloseTo(2.85, 2)
    expect(mix('#000000', '#ffffff', 0.5)).toBe('#808080')
    expect(readable('#999999', ['#ffffff'], '#000000')).toMatch(/^#[0-9a-f]{6}$/)
  })
})
