// What every screen must satisfy, measured on the rendered page (not on pixels): every text at
// 4.5:1 against what is really behind it, tap targets of 44 × 44 px, nothing wider than the
// screen; and the layout-shift score of a screen.

/** Runs in the page: a list of problems (empty when the screen is fine). */
function inspect() {
  const problems = []
  const parse = (value) => {
    let m = /^rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)$/.exec(value)
    if (m) return [+m[1], +m[2], +m[3], m[4] === undefined ? 1 : +m[4]]
    m = /^color\(srgb ([\d.e-]+) ([\d.e-]+) ([\d.e-]+)(?: \/ ([\d.]+))?\)$/.exec(value)
    if (m) return [m[1] * 255, m[2] * 255, m[3] * 255, m[4] === undefined ? 1 : +m[4]]
    return null
  }
  const over = ([r, g, b, a], [R, G, B]) => [r * a + R * (1 - a), g * a + G * (1 - a), b * a + B * (1 - a), 1]
  const luminance = ([r, g, b]) => {
    const lin = (c) => ((c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4)
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
  }
  const ratio = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x)
    return (hi + 0.05) / (lo + 0.05)
  }
  /** The colour behind `el`: its own background and its ancestors', composited. */
  const background = (el) => {
    const layers = []
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const c = parse(getComputedStyle(node).backgroundColor)
      if (c && c[3] > 0) {
        layers.push(c)
        if (c[3] >= 1) break
      }
    }
    let result = [255, 255, 255, 1]
    for (const layer of layers.reverse()) result = over(layer, result)
    return result
  }
  const visible = (el) => {
    const r = el.getBoundingClientRect()
    if (r.width === 0 || r.height === 0) return false
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      const s = getComputedStyle(n)
      if (s.visibility === 'hidden' || s.display === 'none' || Number(s.opacity) === 0) return false
    }
    return true
  }
  const describe = (el) => `<${el.tagName.toLowerCase()}${el.dataset.testid ? ` data-testid=${el.dataset.testid}` : ''}> "${(el.textContent ?? '').trim().slice(0, 40)}"`

  // Contrast of every piece of text (disabled controls are exempt, as in WCAG).
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
  const seen = new Set()
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement
    if (!el || seen.has(el) || !node.textContent.trim()) continue
    seen.add(el)
    if (!visible(el) || el.closest('[aria-hidden="true"], :disabled, script, style, noscript')) continue
    const fg = parse(getComputedStyle(el).color)
    if (!fg) continue
    const bg = background(el)
    const value = ratio(over(fg, bg), bg)
    if (value < 4.5) problems.push(`contrast ${value.toFixed(2)}:1 for ${describe(el)}`)
  }
  // Tap targets.
  for (const el of document.querySelectorAll('button, a[href], input, textarea, select, [role="button"]')) {
    if (!visible(el) || el.closest('[aria-hidden="true"]')) continue
    const r = el.getBoundingClientRect()
    if (r.width < 43.5 || r.height < 43.5) problems.push(`tap target ${Math.round(r.width)}×${Math.round(r.height)} px: ${describe(el)}`)
  }
  // Nothing wider than the screen.
  const width = document.documentElement.clientWidth
  if (document.documentElement.scrollWidth > width + 1) problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`)
  for (const el of document.body.querySelectorAll('*')) {
    if (!visible(el)) continue
    const r = el.getBoundingClientRect()
    if (r.right > width + 1 || r.left < -1) {
      problems.push(`outside the screen (${Math.round(r.left)}…${Math.round(r.right)} of ${width}): ${describe(el)}`)
      break
    }
  }
  return problems
}

/** Problems on the current screen of `page`. */
export async function screenProblems(page) {
  return page.evaluate(inspect)
}

/** The page's colours as computed: the page background and the main text. */
export async function pageColours(page) {
  return page.evaluate(() => {
    const style = getComputedStyle(document.body)
    return { background: style.backgroundColor, text: style.color }
  })
}

/** Layout shifts (CLS) the page collects from its start, excluding those right after input. */
export function layoutShiftScript() {
  window.__cls = 0
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__cls += entry.value
    }).observe({ type: 'layout-shift', buffered: true })
  } catch {
    /* not supported */
  }
}

export const resetLayoutShift = (page) => page.evaluate(() => (window.__cls = 0))
export const layoutShift = (page) => page.evaluate(() => window.__cls)

/** `#rrggbb` → `rgb(r, g, b)` as getComputedStyle writes it. */
export function rgb(hex) {
  const n = parseInt(hex.slice(1), 16)
  return `rgb(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255})`
}
