import { describe, expect, it } from 'vitest'
import { pickLang, strings } from './i18n'

describe('i18n', () => {
  it('defaults to Russian and uses English for en-*', () => {
    expect(pickLang(undefined)).toBe('ru')
    expect(pickLang('de')).toBe('ru')
    expect(pickLang('en-GB')).toBe('en')
  })

  it('declines credits in Russian', () => {
    const t = strings('ru')
    expect(t.credits(1)).toBe('1 кредит')
    expect(t.credits(3)).toBe('3 кредита')
    expect(t.credits(11)).toBe('11 кредитов')
    expect(t.credits(22)).toBe('22 кредита')
    expect(strings('en').credits(1)).toBe('1 credit')
  })

  it('has every key in both languages', () => {
    expect(Object.keys(strings('en')).sort()).toEqual(Object.keys(strings('ru')).sort())
  })
})
