import { describe, expect, it } from 'vitest'
import { back, current, HOME, open } from './nav'

describe('navigation stack', () => {
  it('walks back one screen at a time and never past Home', () => {
    let nav = open(open(open(HOME, 'tryon'), 'gallery'), 'plans')
    expect(nav).toEqual(['home', 'tryon', 'gallery', 'plans'])
    nav = back(nav)
    expect(current(nav)).toBe('gallery')
    nav = back(back(back(nav)))
    expect(nav).toEqual(['home'])
  })

  it('returns to a screen already open instead of stacking it twice; Home resets', () => {
    const nav = open(open(open(HOME, 'tryon'), 'plans'), 'tryon')
    expect(nav).toEqual(['home', 'tryon'])
    expect(open(nav, 'home')).toEqual(['home'])
  })
})
