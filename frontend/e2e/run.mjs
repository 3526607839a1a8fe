// End-to-end flows in a real headless Chromium (playwright-core + Debian's chromium) against
// the real backend in demo mode on the provider simulator (scripts/test.sh starts it).
//   E2E_BASE_URL=http://127.0.0.1:18080 E2E_FLOWS=smoke,tryon E2E_THEMES=light,dark npm run e2e
// Screenshots: test-results/screenshots/<flow>-<theme>.png
import { mkdirSync } from 'node:fs'
import { deflateSync } from 'node:zlib'
import { chromium } from 'playwright-core'

const BASE = process.env.E2E_BASE_URL ?? 'http://127.0.0.1:18080'
const FLOWS = (process.env.E2E_FLOWS ?? 'smoke,tryon,editor,buy-pack,not-enough-credits').split(',').filter(Boolean)
const THEMES = (process.env.E2E_THEMES ?? 'light,dark').split(',').filter(Boolean)
const SHOTS = 'test-results/screenshots'
mkdirSync(SHOTS, { recursive: true })

/** A real PNG (solid colour with a darker square) without any image library. */
function png(width, height, [r, g, b]) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c >>> 0
  })
  const crc = (buf) => {
    let c = 0xffffffff
    for (const byte of buf) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    const body = Buffer.concat([Buffer.from(type), data])
    const sum = Buffer.alloc(4)
    sum.writeUInt32BE(crc(body))
    return Buffer.concat([len, body, sum])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8
  ihdr[9] = 2
  const raw = Buffer.alloc((width * 3 + 1) * height)
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0
    for (let x = 0; x < width; x++) {
      const inner = x > width / 4 && x < (3 * width) / 4 && y > height / 4 && y < (3 * height) / 4
      const o = y * (width * 3 + 1) + 1 + x * 3
      raw[o] = inner ? r / 2 : r
      raw[o + 1] = inner ? g / 2 : g
      raw[o + 2] = inner ? b / 2 : b
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

const file = (name, colour) => ({ name, mimeType: 'image/png', buffer: png(240, 320, colour) })
let nextUser = 2_000_000 + Math.floor(Math.random() * 1_000_000)

async function api(path, init = {}, token) {
  const headers = { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) }
  const response = await fetch(BASE + path, { ...init, headers })
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`)
  return response.status === 204 ? null : response.json()
}

async function tokenFor(user) {
  const { init_data } = await api('/api/auth/dev-login', { method: 'POST', body: JSON.stringify({ telegram_id: user }) })
  return (await api('/api/auth/telegram', { method: 'POST', body: JSON.stringify({ init_data }) })).token
}

const expectText = async (locator, pattern, what) => {
  await locator.waitFor({ timeout: 30_000 })
  const text = await locator.innerText()
  if (!pattern.test(text)) throw new Error(`${what}: "${text}" does not match ${pattern}`)
}

const flows = {
  async smoke(page) {
    await expectText(page.getByTestId('title'), /Примерка/, 'title')
    await expectText(page.getByTestId('balance-total'), /^10 кредитов$/, 'a new user has 10 free credits')
  },
  async tryon(page) {
    await page.getByTestId('tab-tryon').click()
    await page.getByTestId('person-input').setInputFiles(file('me.png', [210, 160, 130]))
    await page.getByTestId('garment-input').setInputFiles(file('jacket.png', [30, 60, 200]))
    await page.locator('img[alt="Ваше фото"]').waitFor()
    await page.locator('img[alt="Вещи"]').waitFor()
    await page.getByTestId('start-tryon').click()
    await page.getByTestId('job-result').waitFor({ timeout: 60_000 })
    await page.locator('[data-testid="job-result"] img').evaluate((img) =>
      img.complete && img.naturalWidth > 0 ? true : new Promise((ok) => (img.onload = ok)),
    )
    await expectText(page.getByTestId('balance'), /8 кредитов/, 'the try-on cost 2 credits')
  },
  async editor(page) {
    await page.getByTestId('tab-editor').click()
    await page.getByTestId('attach-input').setInputFiles(file('me.png', [200, 120, 90]))
    await page.getByTestId('attached').waitFor()
    await page.getByTestId('chat-input').fill('Сделай фон морским пляжем')
    await page.getByTestId('chat-send').click()
    await page.getByTestId('apply-variant').first().waitFor({ timeout: 30_000 })
    await page.getByTestId('apply-variant').first().click()
    await page.getByTestId('msg-assistant-image').waitFor({ timeout: 60_000 })
    await expectText(page.getByTestId('balance'), /8 кредитов/, 'a reply and an edit cost 2 credits')
  },
  async 'buy-pack'(page) {
    await page.getByTestId('balance').click()
    await page.getByTestId('buy-pack_100').click()
    // The simulated YooKassa page, then back to /plans?payment=<id>.
    await page.locator('#pay').click()
    await page.waitForURL(/\/plans\?payment=/)
    await page.getByTestId('payment-succeeded').waitFor({ timeout: 30_000 })
    await expectText(page.getByTestId('balance'), /110 кредитов/, 'the pack arrived')
  },
  async 'not-enough-credits'(page, user) {
    const token = await tokenFor(user)
    for (let i = 0; i < 10; i++) {
      await api('/api/chat/messages', { method: 'POST', body: JSON.stringify({ text: `идея ${i}` }) }, token)
    }
    await page.reload()
    await expectText(page.getByTestId('balance-total'), /^0 кредитов$/, 'the free credits are spent')
    await page.getByTestId('tab-tryon').click()
    await page.getByTestId('person-input').setInputFiles(file('me.png', [210, 160, 130]))
    await page.getByTestId('garment-input').setInputFiles(file('jacket.png', [30, 60, 200]))
    await page.locator('img[alt="Вещи"]').waitFor()
    await page.getByTestId('start-tryon').click()
    await expectText(page.getByTestId('error'), /Недостаточно кредитов/, 'a clear message')
    await page.getByTestId('to-plans').click()
    await page.getByTestId('plans').waitFor()
  },
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
})
let failed = 0
for (const theme of THEMES) {
  for (const name of FLOWS) {
    const flow = flows[name]
    if (!flow) {
      console.error(`unknown flow ${name}`)
      failed++
      continue
    }
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 1,
      colorScheme: theme,
      locale: 'ru-RU',
    })
    const page = await context.newPage()
    const errors = []
    page.on('pageerror', (e) => errors.push(e.message))
    const user = nextUser++
    const started = Date.now()
    try {
      await page.goto(`${BASE}/?demo_user=${user}`)
      await flow(page, user)
      if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`)
      console.log(`ok   ${name} (${theme}) ${Date.now() - started} ms`)
    } catch (e) {
      failed++
      console.error(`FAIL ${name} (${theme}): ${e.message}`)
    } finally {
      await page.screenshot({ path: `${SHOTS}/${name}-${theme}.png`, fullPage: true })
      await context.close()
    }
  }
}
await browser.close()
process.exit(failed ? 1 : 0)
