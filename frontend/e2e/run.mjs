// End-to-end flows in a real headless Chromium (playwright-core + Debian's chromium), twice:
//   browser  — a plain browser against the server in demo mode (development login),
//   telegram — inside an emulated Telegram client (e2e/telegram.mjs) against a server configured
//              like production (a bot token and webhook secret set, so no development login;
//              the providers simulated).
// scripts/test.sh starts both servers. By hand:
//   E2E_BASE_URL=http://127.0.0.1:18181 E2E_TG_BASE_URL=http://127.0.0.1:18182 E2E_TG_BOT_TOKEN=… \
//   E2E_TG_WEBHOOK_SECRET=… E2E_TG_BOT_USERNAME=… E2E_MODES=telegram E2E_FLOWS=stars,yookassa npm run e2e
// Every flow stops at checkpoints where the screen is checked (contrast, tap targets, width) and
// photographed in every palette at 390 and 320 px: test-results/screenshots/<mode>-<flow>-<checkpoint>-<palette>-<width>.png
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { chromium } from 'playwright-core'
import { layoutShift, layoutShiftScript, pageColours, resetLayoutShift, rgb, screenProblems } from './checks.mjs'
import { flatPhoto, photo } from './png.mjs'
import {
  checkSignerAgainstVectors,
  cloudStorageOf,
  events,
  lastEvent,
  openMiniApp,
  postUpdate,
  send,
  setTheme,
  signInitData,
  waitForEvent,
  waitForState,
} from './telegram.mjs'

const env = process.env
const BASE = env.E2E_BASE_URL ?? 'http://127.0.0.1:18080'
const TG = {
  base: env.E2E_TG_BASE_URL,
  botToken: env.E2E_TG_BOT_TOKEN,
  secret: env.E2E_TG_WEBHOOK_SECRET,
  botUsername: env.E2E_TG_BOT_USERNAME ?? '',
  appName: env.E2E_TG_APP_NAME ?? '',
}
const MODES = (env.E2E_MODES ?? 'browser,telegram').split(',').filter(Boolean)
const ONLY = (env.E2E_FLOWS ?? '').split(',').filter(Boolean)
const PARALLEL = Number(env.E2E_PARALLEL ?? 2)
const SHOTS = 'test-results/screenshots'
const PALETTES = JSON.parse(readFileSync(new URL('./palettes.json', import.meta.url), 'utf8'))
const WIDTHS = [390, 320]
rmSync(SHOTS, { recursive: true, force: true })
mkdirSync(SHOTS, { recursive: true })

let nextUser = 2_000_000 + Math.floor(Math.random() * 1_000_000_000)

// ---- helpers ---------------------------------------------------------------------------------

async function api(base, path, init = {}, token) {
  const headers = { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) }
  const response = await fetch(base + path, { ...init, headers: { ...headers, ...init.headers } })
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`)
  return response.status === 204 ? null : response.json()
}

/** A token for `user`: the demo login in the browser mode, initData signed like Telegram's otherwise. */
async function tokenFor(mode, user) {
  const init_data =
    mode === 'telegram'
      ? signInitData(TG.botToken, { user: { id: user, first_name: 'E2E', language_code: 'ru' }, auth_date: Math.floor(Date.now() / 1000) })
      : (await api(BASE, '/api/auth/dev-login', { method: 'POST', body: JSON.stringify({ telegram_id: user }) })).init_data
  return (await api(mode === 'telegram' ? TG.base : BASE, '/api/auth/telegram', { method: 'POST', body: JSON.stringify({ init_data }) })).token
}

/** What a user does once before uploading or paying (the `consents` flows do it in the app): accepts
 *  the documents' current versions and gives an e-mail for receipts. */
async function acceptTerms(mode, user) {
  const base = mode === 'telegram' ? TG.base : BASE
  const token = await tokenFor(mode, user)
  const { versions } = await api(base, '/api/me/consents', {}, token)
  for (const [kind, version] of Object.entries(versions)) {
    await api(base, '/api/me/consents', { method: 'POST', body: JSON.stringify({ kind, version }) }, token)
  }
  await api(base, '/api/me/contact', { method: 'PUT', body: JSON.stringify({ email: `e2e${user}@example.com` }) }, token)
}

/** The privacy consent sheet the first upload opens: the policy read, ticked, accepted. */
async function consentToPrivacy(t) {
  const { page } = t
  const sheet = page.getByTestId('need-privacy')
  await sheet.waitFor({ timeout: 15_000 })
  check(!(await page.getByTestId('need-tick').isChecked()), 'the consent is not ticked in advance')
  check(await page.getByTestId('need-accept').isDisabled(), 'accepting needs the tick')
  await page.getByTestId('read-policy').click()
  await expectText(page.getByTestId('need-document'), /152-ФЗ/, 'the policy opens in the sheet')
  await checkpoint(t, 'privacy-consent')
  await page.getByTestId('need-tick').check()
  await page.getByTestId('need-accept').click()
  await sheet.waitFor({ state: 'detached' })
}

/** The unticked renewal consent next to a plan, with price, period and how to cancel. */
async function tickRenewal(t, product) {
  const { page } = t
  await page.getByTestId(`autorenew-${product}`).waitFor()
  await expectText(page.getByTestId(`autorenew-${product}`), /299 ₽.*30 дн\..*Отключить автопродление/s, 'price, period and how to cancel')
  check(!(await page.getByTestId(`autorenew-tick-${product}`).isChecked()), 'the renewal consent is not ticked in advance')
  check(await page.getByTestId(`buy-${product}`).isDisabled(), 'no subscription without the renewal consent')
  await checkpoint(t, 'renewal-consent')
  await page.getByTestId(`autorenew-tick-${product}`).check()
  check(await page.getByTestId(`buy-${product}`).isEnabled(), 'the tick enables the purchase')
}

/** A fresh user's first photo (the privacy sheet, then the upload goes ahead) and first plan (the
 *  renewal consent ticked). */
async function firstPhotoThenPlan(t) {
  const { page } = t
  await page.getByTestId('tab-tryon').click()
  await page.getByTestId('person-input').setInputFiles(photo('me.png', [210, 160, 130]))
  await consentToPrivacy(t)
  await page.locator('[data-testid="person"][data-state="uploaded"]').waitFor({ timeout: 30_000 })
  await page.getByTestId('balance').click()
  await tickRenewal(t, 'sub_basic')
}

/** What the server stored: both consents with their versions, and the contact. */
async function storedConsents(mode, user) {
  const base = mode === 'telegram' ? TG.base : BASE
  const token = await tokenFor(mode, user)
  const consents = await api(base, '/api/me/consents', {}, token)
  for (const kind of ['privacy', 'autorenew']) {
    const given = consents.consents.find((c) => c.kind === kind)
    check(given && given.version === consents.versions[kind] && given.accepted_at, `the ${kind} consent was not stored: ${JSON.stringify(consents)}`)
  }
  return api(base, '/api/me/contact', {}, token)
}

/** Profile: where receipts go; Documents: the offer, then the privacy policy. */
async function documents(t) {
  const { page } = t
  await page.getByTestId('tab-profile').click()
  await expectText(page.getByTestId('receipt-contact'), t.mode === 'telegram' ? /\+79001234567/ : /@example\.com/, 'where receipts go, in Profile')
  await page.getByTestId('open-legal').click()
  await expectText(page.getByTestId('document-offer'), /Публичная оферта/, 'the offer')
  await page.getByTestId('doc-privacy').click()
  await expectText(page.getByTestId('document-privacy'), /Удалить мои данные/, 'the privacy policy says how to delete')
  await checkpoint(t, 'documents')
}

async function uploadFor(base, token, picture) {
  const form = new FormData()
  form.append('file', new Blob([picture.buffer], { type: picture.mimeType }), picture.name)
  const response = await fetch(`${base}/api/uploads`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${token}` } })
  if (!response.ok) throw new Error(`upload: HTTP ${response.status}`)
  return response.json()
}

function check(condition, message) {
  if (!condition) throw new Error(message)
}

const expectText = async (locator, pattern, what, timeout = 30_000) => {
  await locator.first().waitFor({ timeout })
  const until = Date.now() + timeout
  for (;;) {
    const text = await locator.first().innerText()
    if (pattern.test(text)) return text
    if (Date.now() > until) throw new Error(`${what}: "${text}" does not match ${pattern}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Chooses a photo in a picker and waits until it is uploaded. */
async function pick(page, testId, picture) {
  await page.getByTestId(`${testId}-input`).setInputFiles(picture)
  await page.locator(`[data-testid="${testId}"][data-state="uploaded"]`).waitFor({ timeout: 30_000 })
}

async function imageLoaded(locator) {
  await locator.evaluate((img) => (img.complete && img.naturalWidth > 0 ? true : new Promise((ok, fail) => ((img.onload = ok), (img.onerror = fail)))))
}

async function downloadAnswersAnImage(page) {
  const href = await page.getByTestId('download').first().getAttribute('href')
  const response = await page.request.get(new URL(href, page.url()).toString())
  check(response.ok() && /^image\//.test(response.headers()['content-type'] ?? ''), `the download link ${href} answered ${response.status()}`)
}

/** Waits until `count()` of requests matching `test` grows past `before`. */
async function waitForRequest(requests, test, after, what, timeout = 15_000) {
  const until = Date.now() + timeout
  while (!requests.some((r) => r.at >= after && test(r.url))) {
    if (Date.now() > until) throw new Error(`${what}: no such request`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** The quiz's next step: the screen's "Далее" in a browser, Telegram's MainButton inside it. */
async function quizNext(t, to) {
  const { page, mode } = t
  if (mode === 'telegram') {
    await waitForState(page, 'web_app_setup_main_button', (b) => b.is_visible && b.is_active && b.text === 'Далее', 'MainButton "Далее" active')
    await send(page, 'main_button_pressed')
  } else {
    await page.getByTestId('quiz-next').click()
  }
  await page.locator(`[data-testid="quiz"][data-step="${to}"]`).waitFor()
}

/** One step back: Telegram's BackButton, or the screen's "Назад". */
async function quizBack(t, to) {
  const { page, mode } = t
  if (mode === 'telegram') await send(page, 'back_button_pressed')
  else await page.getByTestId('quiz-back').click()
  await page.locator(`[data-testid="quiz"][data-step="${to}"]`).waitFor()
}

/** Walks the quiz from the start to "check and pay" with new photos. */
async function quizToCheck(t, { category = 'top', garments = [photo('jacket.png', [30, 60, 200])] } = {}) {
  const { page } = t
  await page.getByTestId('tab-tryon').click()
  await page.locator('[data-testid="quiz"][data-step="you"]').waitFor()
  await pick(page, 'person', photo('me.png', [210, 160, 130]))
  await quizNext(t, 'what')
  await page.getByTestId(`category-${category}`).click()
  await quizNext(t, 'items')
  for (const [i, garment] of garments.entries()) await pick(page, i === 0 ? 'garment' : `garment-${i + 1}`, garment)
  await quizNext(t, 'check')
}

/** Starts the try-on from "check and pay". */
async function quizStart(t) {
  const { page, mode } = t
  if (mode === 'telegram') {
    await waitForState(page, 'web_app_setup_main_button', (b) => b.is_active && /^Примерить/.test(b.text), 'MainButton starts the try-on')
    await send(page, 'main_button_pressed')
  } else {
    await page.getByTestId('start-tryon').click()
  }
}

/** The quiz end to end: a refused photo, back, an earlier photo reused, the result's actions. */
async function quizFlow(t) {
  let { page } = t
  const { mode } = t
  await page.getByTestId('tab-tryon').click()
  await page.locator('[data-testid="quiz"][data-step="you"]').waitFor()
  await page.getByTestId('photo-examples').waitFor()
  await checkpoint(t, 'step-you')
  // A flat, blurry photo is refused before anything is charged, with the server's words.
  await page.getByTestId('person-input').setInputFiles(flatPhoto('blurry.png', [120, 120, 120]))
  await expectText(page.getByTestId('error'), /размыт/i, 'the refused photo says why')
  await checkpoint(t, 'step-you-refused')
  await pick(page, 'person', photo('me.png', [210, 160, 130]))
  await quizNext(t, 'what')
  await page.getByTestId('category-outfit').waitFor()
  await page.getByTestId('category-accessory').waitFor()
  await page.getByTestId('category-top').click()
  await checkpoint(t, 'step-what')
  // Back one step keeps the photo; forward again keeps the category.
  await quizBack(t, 'you')
  await page.locator('[data-testid="person"][data-state="uploaded"]').waitFor()
  await quizNext(t, 'what')
  check((await page.getByTestId('category-top').getAttribute('aria-pressed')) === 'true', 'the category was forgotten')
  await quizNext(t, 'items')
  await pick(page, 'garment', photo('jacket.png', [30, 60, 200]))
  // A look of two items: the second picker appears once the first item is uploaded.
  await pick(page, 'garment-2', photo('hat.png', [200, 40, 40]))
  await checkpoint(t, 'step-items')
  await quizNext(t, 'check')
  await expectText(page.getByTestId('tryon-cost'), /2 кредита.*10/, 'the price and the balance before confirming')
  await page.getByTestId('watermark-note').waitFor()
  await checkpoint(t, 'step-check')
  // The quiz survives closing and reopening the app.
  const photos = await page.getByTestId('quiz-summary').locator('img').evaluateAll((imgs) => imgs.map((i) => new URL(i.src).pathname))
  if (mode === 'telegram') {
    // Inside Telegram it is kept in CloudStorage: closed here, opened on another device (a new
    // browser context, empty localStorage), the same step with the same photos.
    const saved = await waitForEvent(
      page,
      'web_app_invoke_custom_method',
      (c) => c.method === 'saveStorageValue' && c.params.key === 'quiz_draft' && /"step":"check"/.test(c.params.value),
    )
    const draft = JSON.parse(saved.params.value)
    check(draft.garments.length === 2 && typeof draft.person === 'string' && draft.category === 'top', `the draft stored: ${saved.params.value}`)
    check(!/https?:|sig=|\/media\//.test(saved.params.value), `links stored in CloudStorage: ${saved.params.value}`)
    check(cloudStorageOf(t.user).get('quiz_draft') !== undefined, 'Telegram’s CloudStorage holds no draft')
    await page.close()
    page = t.page = await t.openOnAnotherDevice()
    await page.getByTestId('balance').waitFor({ timeout: 30_000 })
    check((await page.evaluate((key) => localStorage.getItem(key), `primerka.quiz.${t.user}`)) === null, 'the other device has a local copy')
    await page.getByTestId('tab-tryon').click()
    await page.locator('[data-testid="quiz"][data-step="check"]').waitFor()
    await waitForEvent(page, 'web_app_invoke_custom_method', (c) => c.method === 'getStorageValues' && c.params.keys.includes('quiz_draft'))
  } else {
    await page.reload()
    await page.getByTestId('tab-tryon').click()
    await page.locator('[data-testid="quiz"][data-step="check"]').waitFor()
  }
  await page.getByTestId('quiz-summary').locator('img').nth(2).waitFor()
  const reopened = await page.getByTestId('quiz-summary').locator('img').evaluateAll((imgs) => imgs.map((i) => new URL(i.src).pathname))
  check(JSON.stringify(reopened) === JSON.stringify(photos), `reopened with ${reopened.join(', ')} instead of ${photos.join(', ')}`)
  await quizStart(t)
  await page.getByTestId('job-progress').waitFor()
  await page.getByTestId('job-inputs').waitFor()
  await page.getByTestId('job-result').waitFor({ timeout: 60_000 })
  await imageLoaded(page.getByTestId('before-image'))
  await expectText(page.getByTestId('balance'), /8 кредитов/, 'the try-on cost 2 credits')
  await page.getByTestId('compare-slider').fill('20')
  await checkpoint(t, 'result')
  await page.getByTestId('fullscreen').click()
  await page.getByTestId('fullscreen-view').waitFor()
  await checkpoint(t, 'fullscreen')
  if (mode === 'telegram') await send(page, 'back_button_pressed')
  else await page.getByTestId('fullscreen-close').click()
  await page.getByTestId('fullscreen-view').waitFor({ state: 'detached' })
  await page.getByTestId('rate-down').click()
  await page.getByTestId('rate-reason').first().click()
  await expectText(page.getByTestId('rating'), /Спасибо/, 'the rating is stored')
  await downloadAnswersAnImage(page)
  if (mode === 'telegram') {
    await page.getByTestId('share-story').click()
    const story = await waitForEvent(page, 'web_app_share_to_story')
    check(/\/media\/results\//.test(story.media_url), `the story shares the delivered result: ${story.media_url}`)
  }
  // Another item with the same person photo, reusing the wardrobe.
  await page.getByTestId('try-another').click()
  await page.locator('[data-testid="quiz"][data-step="what"]').waitFor()
  await page.getByTestId('category-outerwear').click()
  await quizNext(t, 'items')
  await page.getByTestId('my-garment').first().click()
  await checkpoint(t, 'step-items-wardrobe')
  await quizNext(t, 'check')
  await quizStart(t)
  await page.getByTestId('job-result').waitFor({ timeout: 60_000 })
  await expectText(page.getByTestId('balance'), /6 кредитов/, 'the second try-on cost 2 credits')
  // The result becomes the editor's picture.
  await page.getByTestId('edit-in-chat').click()
  await expectText(page.getByTestId('title'), /Редактор/, 'the editor opened')
  await page.getByTestId('composer').waitFor()
  await page.waitForTimeout(300)
  check((await page.getByTestId('need-photo').count()) === 0, 'the editor has no picture after "edit in chat"')
  check(await page.getByTestId('chat-send').isDisabled(), 'sending an empty message is offered')
  await page.getByTestId('chat-input').fill('Сделай фон морским пляжем')
  check(!(await page.getByTestId('chat-send').isDisabled()), 'the result is not the editor\'s picture')
  await checkpoint(t, 'edit-in-chat')
}

/** Cancel while queued: every worker of the e2e server (`E2E_WORKERS`, 4) is busy with slow
 *  kie.ai tasks of two other users, so this user's try-on waits in the queue; cancelled there,
 *  its credits come back; "retry" keeps the inputs. */
async function cancelFlow(t) {
  const { page, mode } = t
  const base = mode === 'telegram' ? TG.base : BASE
  await quizToCheck(t)
  await api(base, '/sim/kie/_control/faults', { method: 'POST', body: JSON.stringify({ slow_tasks: 6, slow_ms: 15_000 }) })
  const blockers = []
  for (let u = 0; u < 2; u++) {
    const blocker = nextUser++
    await acceptTerms(mode, blocker)
    const token = await tokenFor(mode, blocker)
    const person = await uploadFor(base, token, photo('p.png', [200, 150, 120]))
    const garment = await uploadFor(base, token, photo('g.png', [20, 40, 200]))
    for (let j = 0; j < 2; j++) {
      const body = JSON.stringify({ person_upload_id: person.upload_id, garment_upload_ids: [garment.upload_id], category: 'glasses' })
      blockers.push({ token, id: (await api(base, '/api/tryon', { method: 'POST', body }, token)).generation_id })
    }
  }
  for (const b of blockers) {
    const until = Date.now() + 10_000
    while ((await api(base, `/api/generations/${b.id}`, {}, b.token)).status === 'queued') {
      if (Date.now() > until) throw new Error('a blocking job never started')
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  try {
    await quizStart(t)
    await page.locator('[data-testid="job-progress"][data-status="queued"]').waitFor()
    await expectText(page.getByTestId('cancel-job'), /^Отменить$/, 'cancel is offered while queued')
    await page.getByTestId('job-inputs').waitFor()
    await expectText(page.getByTestId('balance'), /8 кредитов/, 'the try-on is held')
    await checkpoint(t, 'queued')
    await page.getByTestId('cancel-job').click()
    await expectText(page.getByTestId('job-failed'), /отменена/, 'the job says it was cancelled')
    await expectText(page.getByTestId('balance'), /10 кредитов/, 'the credits came back')
    await checkpoint(t, 'canceled')
  } finally {
    await api(base, '/sim/kie/_control/faults', { method: 'POST', body: JSON.stringify({ slow_tasks: 0 }) })
  }
  // "Retry" keeps the inputs: back at "check and pay".
  await page.getByTestId('job-failed').getByRole('button').click()
  await page.locator('[data-testid="quiz"][data-step="check"]').waitFor()
  check((await page.getByTestId('quiz-summary').locator('img').count()) === 2, 'the inputs were lost')
}

// ---- checkpoints: every palette × width --------------------------------------------------------

/** Checks the current screen in every palette of the mode at both widths, photographs each, and
 *  puts the flow's own palette and width back. */
async function checkpoint(t, label) {
  const { page, mode } = t
  const palettes = mode === 'telegram' ? Object.keys(PALETTES) : ['light', 'dark']
  const problems = []
  for (const palette of palettes) {
    if (mode === 'telegram') await setTheme(page, PALETTES[palette])
    else await page.emulateMedia({ colorScheme: palette })
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 844 })
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))))
      for (const p of await screenProblems(page)) problems.push(`${palette} ${width}px: ${p}`)
      if (mode === 'telegram') {
        // The page follows themeParams: Telegram's secondary background and its text colour.
        const colours = await pageColours(page)
        const want = { background: rgb(PALETTES[palette].secondary_bg_color), text: rgb(PALETTES[palette].text_color) }
        if (colours.background !== want.background || colours.text !== want.text) {
          problems.push(`${palette}: the page is ${JSON.stringify(colours)}, themeParams say ${JSON.stringify(want)}`)
        }
      }
      await page.screenshot({ path: `${SHOTS}/${mode}-${t.name}-${label}-${palette}-${width}.png`, fullPage: true })
    }
  }
  if (mode === 'telegram') await setTheme(page, PALETTES[t.palette])
  else await page.emulateMedia({ colorScheme: t.palette })
  await page.setViewportSize({ width: t.width, height: 844 })
  if (problems.length) throw new Error(`checkpoint ${label}:\n    ${[...new Set(problems)].join('\n    ')}`)
}


// ---- issue 18: onboarding, invitations, promo codes, the operator screen ------------------------

/** The operator: `ADMIN_TELEGRAM_IDS=1` on both servers (scripts/test.sh). */
const OPERATOR = 1

async function status(base, path, token, init = {}) {
  const response = await fetch(base + path, { ...init, headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) } })
  return response.status
}

/** The onboarding cards on a first open: three, then gone for good (the server remembers). */
async function walkOnboarding(t, { skip }) {
  const { page } = t
  const dialog = page.getByTestId('onboarding')
  await dialog.waitFor({ timeout: 15_000 })
  await expectText(page.getByTestId('onboarding-step'), /^1 из 3$/, 'the first card')
  await checkpoint(t, 'onboarding')
  if (skip) {
    await page.getByTestId('onboarding-skip').click()
  } else {
    await page.getByTestId('onboarding-next').click()
    await expectText(dialog, /Примерка — 2 кредита/, 'what it costs')
    await page.getByTestId('onboarding-next').click()
    await expectText(dialog, /10 бесплатных кредитов/, 'the free tier')
    await checkpoint(t, 'onboarding-free')
    await expectText(page.getByTestId('onboarding-next'), /^Начать$/, 'the last card starts the app')
    await page.getByTestId('onboarding-next').click()
  }
  await dialog.waitFor({ state: 'detached' })
  const base = t.mode === 'telegram' ? TG.base : BASE
  const token = await tokenFor(t.mode, t.user)
  const until = Date.now() + 10_000
  while (!(await api(base, '/api/me', {}, token)).onboarded) {
    if (Date.now() > until) throw new Error('the onboarding was not remembered')
    await new Promise((r) => setTimeout(r, 100))
  }
  await page.reload()
  await page.getByTestId('balance').waitFor({ timeout: 30_000 })
  await page.waitForTimeout(500)
  check((await dialog.count()) === 0, 'the onboarding is shown once')
  return token
}

/** Profile: the invitation link and counts, the reminders switch (kept on the server); no way
 *  into the operator screen for a user. */
async function inviteAndReminders(t, token, linkPattern) {
  const { page } = t
  const base = t.mode === 'telegram' ? TG.base : BASE
  await page.getByTestId('tab-profile').click()
  const link = await page.getByTestId('invite-link').inputValue()
  check(linkPattern.test(link), `the invitation link is ${link}`)
  check((await page.getByTestId('open-admin').count()) === 0, 'a user sees the operator entry')
  const toggle = page.getByTestId('reminders-switch')
  check((await toggle.getAttribute('aria-checked')) === 'true', 'reminders are on by default')
  await checkpoint(t, 'profile-invite')
  await toggle.click()
  await page.locator('[data-testid="reminders-switch"][aria-checked="false"]').waitFor()
  check((await api(base, '/api/me', {}, token)).reminders_off === true, 'the switch reached the server')
  return link
}

async function operatorScreen(t) {
  const { page } = t
  const base = t.mode === 'telegram' ? TG.base : BASE
  // Nothing of it answers another user (nor nobody).
  const other = await tokenFor(t.mode, nextUser++)
  for (const path of ['/api/admin/stats', '/api/admin/promo', '/api/admin/ledger/check', '/api/admin/revenue?from=2026-01-01&to=2026-12-31']) {
    check((await status(base, path, other)) === 403, `${path} answered a user`)
    check((await status(base, path, null)) === 401, `${path} answered nobody`)
  }
  check((await status(base, '/api/admin/promo', other, { method: 'POST', body: JSON.stringify({ code: 'MINE', credits: 5, max_uses: 1 }) })) === 403, 'a user made a promo code')
  // A paying customer to refund, and a user to grant to.
  const customer = nextUser++
  await acceptTerms(t.mode, customer)
  const customerToken = await tokenFor(t.mode, customer)
  const payment = await api(base, '/api/payments', { method: 'POST', body: JSON.stringify({ product: 'pack_100' }) }, customerToken)
  await fetch(`${base}/sim/yookassa/payments/${payment.confirmation_url.split('/').pop()}/succeed`, { method: 'POST' })
  for (let until = Date.now() + 15_000; (await api(base, `/api/payments/${payment.payment_id}`, {}, customerToken)).status !== 'succeeded'; ) {
    if (Date.now() > until) throw new Error('the customer’s payment did not settle')
    await new Promise((r) => setTimeout(r, 200))
  }

  await page.getByTestId('tab-profile').click()
  await page.getByTestId('open-admin').click()
  await expectText(page.getByTestId('title'), /Панель оператора/, 'the operator screen')
  await expectText(page.getByTestId('figure-new_users'), /Новые пользователи\s*\d+\s*\d+/, 'today and the month')
  await page.getByTestId('health-kie').waitFor()
  await page.getByTestId('health-queue').waitFor()
  await expectText(page.getByTestId('revenue-total'), /Итого/, 'the month’s revenue')
  // The customer's payment of a moment ago is in this month's revenue (the month is the
  // server's, in Moscow time, whatever the browser's clock says).
  await expectText(page.getByTestId('admin-revenue'), /pack_100/, 'the customer’s payment in the month’s revenue')
  await page.getByTestId('npd-gauge').waitFor()
  await checkpoint(t, 'operator')

  await page.getByTestId('admin-ledger-run').click()
  await expectText(page.getByTestId('admin-ledger-result'), /Расхождений нет/, 'the ledger check')
  await page.getByTestId('grant-user').fill(String(customer))
  await page.getByTestId('grant-credits').fill('15')
  await page.getByTestId('grant-reason').fill('e2e')
  await page.getByTestId('admin-grant-run').click()
  await expectText(page.getByTestId('admin-grant-result'), /Начислено 15/, 'the grant')
  check((await api(base, '/api/me', {}, customerToken)).balance.total === 125, 'the customer got the pack and the grant')
  await page.getByTestId('refund-payment').fill(payment.payment_id)
  await page.getByTestId('refund-reason').fill('e2e')
  await page.getByTestId('admin-refund-run').click()
  await expectText(page.getByTestId('admin-refund-result'), /Возврат оформлен, списано кредитов: 100/, 'the refund')
  const code = `E2E${t.mode[0].toUpperCase()}${Date.now().toString(36).toUpperCase()}`
  await page.getByTestId('promo-code').fill(code)
  await page.getByTestId('promo-amount').fill('7')
  await page.getByTestId('promo-uses').fill('1')
  await page.getByTestId('admin-promo-create').click()
  await expectText(page.getByTestId('promo-list'), new RegExp(`${code}[\\s\\S]*0 из 1`), 'the new code is listed')
  await checkpoint(t, 'operator-done')
  return code
}

/** A promo code entered in Plans adds its credits; a second time it is refused. */
async function redeemInPlans(t, code, expectTotal) {
  const { page } = t
  await page.getByTestId('balance').click()
  await page.getByTestId('promo-input').fill(code.toLowerCase())
  await page.getByTestId('promo-apply').click()
  await expectText(page.getByTestId('promo-done'), /Начислено 7 кредитов/, 'the promo credits')
  await expectText(page.getByTestId('balance'), expectTotal, 'the balance after the code')
  await page.getByTestId('promo-input').fill(code)
  await page.getByTestId('promo-apply').click()
  await expectText(page.getByRole('alert'), /уже использовали/, 'a code used twice')
  await checkpoint(t, 'promo')
}

// ---- the flows -------------------------------------------------------------------------------

const browserFlows = {
  async smoke(t) {
    const { page } = t
    await expectText(page.getByTestId('balance-total'), /^10 кредитов$/, 'a new user has 10 free credits')
    check((await page.getByTestId('title').count()) === 0, 'Home repeats no title')
    await checkpoint(t, 'home')
  },
  async tryon(t) {
    await quizFlow(t)
  },
  async cancel(t) {
    await cancelFlow(t)
  },
  async consents(t) {
    const { page, user } = t
    await firstPhotoThenPlan(t)
    // Then the receipt e-mail, then YooKassa.
    await page.getByTestId('buy-sub_basic').click()
    await page.getByTestId('need-contact').waitFor()
    check((await page.getByTestId('share-phone').count()) === 0, 'no phone sharing outside Telegram')
    await page.getByTestId('contact-email').fill('не почта')
    await page.getByTestId('save-contact').click()
    await page.getByRole('alert').filter({ hasText: 'Проверьте e-mail' }).waitFor()
    await page.getByTestId('contact-email').fill(`anna${user}@example.com`)
    await checkpoint(t, 'contact')
    await page.getByTestId('save-contact').click()
    await page.locator('#pay').click()
    await page.waitForURL(/\/plans\?payment=.*&sig=/)
    await page.getByTestId('payment-succeeded').waitFor({ timeout: 30_000 })
    await page.getByTestId('current-plan').waitFor()
    const contact = await storedConsents('browser', user)
    check(contact.email === `anna${user}@example.com`, `the contact stored is ${JSON.stringify(contact)}`)
    await documents(t)
  },
  async editor(t) {
    const { page } = t
    await page.getByTestId('tab-editor').click()
    await page.getByTestId('attach-input').setInputFiles(photo('me.png', [200, 120, 90]))
    await page.getByTestId('attached').waitFor()
    await page.getByTestId('chat-input').fill('Сделай фон морским пляжем')
    await page.getByTestId('chat-send').click()
    await page.getByTestId('apply-variant').first().waitFor({ timeout: 30_000 })
    await page.getByTestId('apply-variant').first().click()
    await page.getByTestId('edit-result').waitFor({ timeout: 60_000 })
    await expectText(page.getByTestId('balance'), /8 кредитов/, 'a reply and an edit cost 2 credits')
    await checkpoint(t, 'result')
  },
  async 'buy-pack'(t) {
    const { page, user } = t
    await page.getByTestId('balance').click()
    await expectText(page.getByTestId('buy-pack_100'), /^Купить за 199 ₽$/, 'whole roubles')
    await checkpoint(t, 'plans')
    await page.getByTestId('buy-pack_100').click()
    // The simulated YooKassa page, then back to /plans?payment=<id>&sig=….
    await page.locator('#pay').click()
    await page.waitForURL(/\/plans\?payment=.*&sig=/)
    await page.getByTestId('payment-succeeded').waitFor({ timeout: 30_000 })
    await expectText(page.getByTestId('balance'), /110 кредитов/, 'the pack arrived')
    check(!new URL(page.url()).search.includes('payment='), `?payment= is left in ${page.url()}`)
    await page.getByTestId('tab-profile').click()
    await expectText(page.getByTestId('ledger'), /\+100/, 'the credit history (in Profile) lists the purchase')
    // Paid in another tab (the way the external browser is, inside Telegram): the open app's
    // balance changes without a reload.
    const token = await tokenFor('browser', user)
    const started = await api(BASE, '/api/payments', { method: 'POST', body: JSON.stringify({ product: 'pack_100', rail: 'yookassa' }) }, token)
    const other = await page.context().newPage()
    await other.goto(new URL(started.confirmation_url, BASE).toString())
    await other.locator('#pay').click()
    await page.getByTestId('balance').filter({ hasText: '210 кредитов' }).waitFor({ timeout: 30_000 })
    await other.close()
  },
  async 'not-enough-credits'(t) {
    const { page, user } = t
    const token = await tokenFor('browser', user)
    const upload = await uploadFor(BASE, token, photo('me.png', [210, 160, 130]))
    for (let i = 0; i < 10; i++) {
      await api(BASE, '/api/chat/messages', { method: 'POST', body: JSON.stringify({ text: `идея ${i}`, upload_id: i === 0 ? upload.upload_id : undefined }) }, token)
    }
    await page.reload()
    await expectText(page.getByTestId('balance-total'), /^0 кредитов$/, 'the free credits are spent')
    await page.getByTestId('tab-tryon').click()
    // Said before the form is filled.
    await expectText(page.getByTestId('tryon-short'), /Недостаточно кредитов/, 'a clear message up front')
    await checkpoint(t, 'short')
    await page.getByTestId('short-to-plans').click()
    await page.getByTestId('plans').waitFor()
  },
  async onboarding(t) {
    const token = await walkOnboarding(t, { skip: false })
    await inviteAndReminders(t, token, /\/\?startapp=ref_[0-9a-f]{12}$/)
    const operator = await tokenFor('browser', OPERATOR)
    const code = `E2EB${Date.now().toString(36).toUpperCase()}`
    await api(BASE, '/api/admin/promo', { method: 'POST', body: JSON.stringify({ code, credits: 7, max_uses: 5 }) }, operator)
    await redeemInPlans(t, code, /17 кредитов/)
  },
  async operator(t) {
    const code = await operatorScreen(t)
    const user = await tokenFor('browser', nextUser++)
    check((await api(BASE, '/api/promo/redeem', { method: 'POST', body: JSON.stringify({ code }) }, user)).credits === 7, 'the code made on the screen works')
  },
}

const telegramFlows = {
  async onboarding(t) {
    const { page } = t
    const token = await walkOnboarding(t, { skip: true })
    const link = await inviteAndReminders(t, token, /^https:\/\/t\.me\/primerka_e2e_bot\/app\?startapp=ref_[0-9a-f]{12}$/)
    // Sharing goes through Telegram's chat picker.
    await page.getByTestId('invite-share').click()
    await waitForEvent(page, 'web_app_open_tg_link', (d) => JSON.stringify(d).includes('share'))
    // A friend opens the Mini App with the link's start parameter: counted as invited.
    const friendContext = await t.browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'ru-RU' })
    const friend = nextUser++
    const friendPage = await openMiniApp(friendContext, { ...t.launch, user: { id: friend, first_name: 'Друг', language_code: 'ru' }, startParam: link.split('startapp=')[1] })
    await friendPage.getByTestId('onboarding').waitFor({ timeout: 30_000 })
    await friendContext.close()
    await page.reload()
    await page.getByTestId('tab-profile').click()
    await expectText(page.getByTestId('invite-counts'), /Приглашено: 1 · с бонусом: 0/, 'the friend is counted')
  },
  async operator(t) {
    const code = await operatorScreen(t)
    // The BackButton leads back to Profile.
    await send(t.page, 'back_button_pressed')
    await t.page.getByTestId('open-admin').waitFor()
    await redeemInPlans(t, code, /17 кредитов/)
  },
  async login(t) {
    const { page, requests } = t
    await expectText(page.getByTestId('balance-total'), /^10 кредитов$/, 'logged in with initData')
    const posted = (await events(page)).map((e) => e.type)
    for (const type of ['web_app_ready', 'web_app_expand', 'web_app_set_header_color', 'web_app_set_background_color']) {
      check(posted.includes(type), `${type} was not sent: ${posted.join(', ')}`)
    }
    check(requests.some((r) => r.url.endsWith('/api/auth/telegram')), 'no POST /api/auth/telegram')
    check(!requests.some((r) => r.url.includes('/api/auth/dev-login') || r.url.includes('/api/auth/demo')), 'the development login was tried')
    check((await page.getByTestId('title').count()) === 0, 'Home repeats Telegram’s title')
    // No white screen at start: the page itself carries a skeleton; its scripts come precompressed.
    const html = await (await fetch(`${TG.base}/`)).text()
    check(html.includes('data-testid="skeleton"'), 'index.html has no start skeleton')
    const script = /<script type="module"[^>]+src="([^"]+)"/.exec(html)?.[1]
    const js = await fetch(`${TG.base}${script}`, { headers: { 'Accept-Encoding': 'br, gzip' } })
    check(js.headers.get('content-encoding') === 'br', `${script} is served ${js.headers.get('content-encoding') ?? 'uncompressed'}`)
    const bytes = Number(js.headers.get('content-length') ?? (await js.arrayBuffer()).byteLength)
    check(bytes <= 120 * 1024, `the initial JS is ${bytes} bytes compressed`)
    t.note(`initial JS ${(bytes / 1024).toFixed(1)} KB br`)
    check(!(await lastEvent(page, 'web_app_setup_back_button'))?.is_visible, 'the BackButton shows on Home')
    await checkpoint(t, 'home')
    // The BackButton walks back one screen at a time.
    await page.getByTestId('tab-tryon').click()
    await waitForState(page, 'web_app_setup_back_button', (b) => b.is_visible, 'BackButton off Home')
    await page.getByTestId('balance').click()
    await expectText(page.getByTestId('title'), /Тарифы/, 'plans')
    await send(page, 'back_button_pressed')
    await expectText(page.getByTestId('title'), /Примерка одежды/, 'back to the try-on')
    await send(page, 'back_button_pressed')
    await page.getByTestId('balance-total').waitFor()
    await waitForState(page, 'web_app_setup_back_button', (b) => !b.is_visible, 'no BackButton on Home')
    // The same server in a browser outside Telegram: no login error, a way to Telegram.
    const outside = await t.browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'ru-RU' })
    const plain = await outside.newPage()
    await plain.goto(`${TG.base}/`)
    await plain.getByTestId('open-in-telegram').waitFor()
    check((await plain.getByRole('alert').count()) === 0, 'an error outside Telegram')
    await outside.close()
  },
  async tryon(t) {
    const { page, requests } = t
    await page.getByTestId('tab-tryon').click()
    await waitForState(page, 'web_app_setup_main_button', (b) => b.is_visible && b.text === 'Далее' && !b.is_active, 'MainButton "Далее" disabled without a photo')
    await send(page, 'main_button_pressed')
    await page.waitForTimeout(300)
    check((await page.locator('[data-testid="quiz"][data-step="you"]').count()) === 1, 'a press on the disabled MainButton moved on')
    // A 12 MP photo is sent at 2560 px on the long side, as JPEG, marked as the person photo.
    const uploaded = page.waitForResponse((r) => r.url().endsWith('/api/uploads') && r.status() === 201)
    await pick(page, 'person', photo('IMG_0001.png', [210, 160, 130], 4000, 3000))
    const person = await (await uploaded).json()
    check(person.width === 2560 && person.height === 1920 && person.content_type === 'image/jpeg' && person.kind === 'person', `uploaded ${JSON.stringify(person)}`)
    check((await page.getByTestId('quiz-next').count()) === 0, 'the screen repeats the MainButton')
    await waitForEvent(page, 'web_app_trigger_haptic_feedback')
    await quizNext(t, 'what')
    await page.getByTestId('category-top').click()
    await waitForEvent(page, 'web_app_trigger_haptic_feedback', (h) => h.type === 'selection_change')
    await quizNext(t, 'items')
    // A marketplace picture in WebP is taken too (sent as JPEG).
    const webp = await page.evaluate(async () => {
      const canvas = Object.assign(document.createElement('canvas'), { width: 600, height: 800 })
      const g = canvas.getContext('2d')
      g.fillStyle = '#1e3cc8'
      g.fillRect(0, 0, 600, 800)
      const blob = await new Promise((ok) => canvas.toBlob(ok, 'image/webp', 0.9))
      return [...new Uint8Array(await blob.arrayBuffer())]
    })
    const garmentUploaded = page.waitForResponse((r) => r.url().endsWith('/api/uploads') && r.status() === 201)
    await pick(page, 'garment', { name: 'jacket.webp', mimeType: 'image/webp', buffer: Buffer.from(webp) })
    const garment = await (await garmentUploaded).json()
    check(garment.content_type === 'image/jpeg' && garment.width === 600 && garment.kind === 'garment', `the WebP upload became ${JSON.stringify(garment)}`)
    await quizNext(t, 'check')
    await checkpoint(t, 'check')
    check(!requests.some((r) => r.url.endsWith('/api/tryon')), 'a try-on started before the last step')
    await quizStart(t)
    await page.getByTestId('job-progress').waitFor()
    await resetLayoutShift(page)
    await page.getByTestId('job-result').waitFor({ timeout: 60_000 })
    await imageLoaded(page.locator('[data-testid="result-box"] img').first())
    await page.waitForTimeout(500)
    const cls = await layoutShift(page)
    check(cls <= 0.05, `the result screen shifted: CLS ${cls.toFixed(3)}`)
    t.note(`CLS ${cls.toFixed(3)}`)
    await waitForEvent(page, 'web_app_trigger_haptic_feedback', (h) => h.notification_type === 'success')
    await expectText(page.getByTestId('balance'), /8 кредитов/, 'the try-on cost 2 credits')
    await waitForState(page, 'web_app_setup_main_button', (b) => b.is_visible && b.is_active && b.text === 'Новая примерка', 'MainButton offers a new try-on')
    await downloadAnswersAnImage(page)
    await checkpoint(t, 'result')
    // A new try-on keeps the person photo and goes to "what to try on".
    await send(page, 'main_button_pressed')
    await page.locator('[data-testid="quiz"][data-step="what"]').waitFor()
    await quizBack(t, 'you')
    await page.locator('[data-testid="person"][data-state="uploaded"]').waitFor()
  },
  async quiz(t) {
    await quizFlow(t)
  },
  async cancel(t) {
    await cancelFlow(t)
  },
  async editor(t) {
    const { page } = t
    await page.getByTestId('tab-editor').click()
    await page.getByTestId('need-photo').waitFor()
    await page.getByTestId('chat-input').fill('Сделай фон морским пляжем')
    check(await page.getByTestId('chat-send').isDisabled(), 'sending is offered without a photo')
    // The composer sits on the tab bar (with the safe-area inset), not in the middle of the screen.
    const [composer, nav] = await Promise.all([page.getByTestId('composer').boundingBox(), page.locator('nav').boundingBox()])
    check(Math.abs(composer.y + composer.height - nav.y) <= 2, `the composer ends at ${composer.y + composer.height}, the tab bar starts at ${nav.y}`)
    await checkpoint(t, 'empty')
    await page.getByTestId('attach-input').setInputFiles(photo('me.png', [200, 120, 90]))
    await page.getByTestId('attached').waitFor()
    await page.getByTestId('chat-send').click()
    await page.getByTestId('variant').first().waitFor({ timeout: 30_000 })
    check((await page.getByTestId('variant-prompt').count()) === 0, 'the English prompt is shown before the user edits it')
    await page.getByTestId('apply-variant').first().click()
    await page.getByTestId('edit-result').waitFor({ timeout: 60_000 })
    await expectText(page.getByTestId('balance'), /8 кредитов/, 'a reply and an edit cost 2 credits')
    await page.getByTestId('compare-toggle').click()
    await page.getByTestId('compare').waitFor()
    await downloadAnswersAnImage(page)
    await checkpoint(t, 'result')
  },
  async 'gallery-live'(t) {
    const { page } = t
    await quizToCheck(t)
    // The quiz survives switching tabs.
    await page.getByTestId('tab-gallery').click()
    await page.getByTestId('tab-tryon').click()
    await page.locator('[data-testid="quiz"][data-step="check"]').waitFor()
    await quizStart(t)
    await page.getByTestId('job-progress').waitFor()
    // The running job is visible from the gallery, and its tile turns into the result by itself.
    await page.getByTestId('tab-gallery').click()
    await page.getByTestId('jobs-bar').waitFor()
    await page.locator('[data-testid="tile-queued"], [data-testid="tile-submitted"], [data-testid="tile-running"]').first().waitFor()
    await checkpoint(t, 'running')
    await page.getByTestId('tile-succeeded').waitFor({ timeout: 60_000 })
    await page.getByTestId('jobs-bar-succeeded').click()
    await page.getByTestId('job-result').waitFor()
    // A gallery item is one step: the BackButton closes it, then leaves the gallery.
    await page.getByTestId('tab-gallery').click()
    await page.getByTestId('tile-succeeded').locator('button').click()
    await page.getByTestId('gallery-item').waitFor()
    await checkpoint(t, 'item')
    await send(page, 'back_button_pressed')
    await page.getByTestId('gallery').waitFor()
    await expectText(page.getByTestId('title'), /Галерея/, 'still in the gallery')
  },
  async 'network-drop'(t) {
    const { page, requests, socket } = t
    await quizToCheck(t)
    await waitForState(page, 'web_app_setup_main_button', (b) => b.is_active, 'MainButton active')
    // The network goes silent right after the job starts: frames are lost, pings unanswered.
    socket.drop = true
    const dropped = Date.now()
    await send(page, 'main_button_pressed')
    await page.getByTestId('job-progress').waitFor()
    await page.getByTestId('job-result').waitFor({ timeout: 60_000 })
    check(socket.lost.some((f) => f.includes('job.succeeded')), 'the job.succeeded frame was not lost: nothing was tested')
    await waitForRequest(requests, (u) => /\/api\/generations(\/|\?active=1)/.test(u), dropped, 'the unfinished job re-read while the socket was silent')
    await expectText(page.getByTestId('balance'), /8 кредитов/, 'the balance re-read')
    // The socket closes: the app says so, reconnects, and re-reads what it missed.
    socket.drop = false
    const closed = Date.now()
    await socket.closeAll()
    await page.getByTestId('offline').waitFor()
    await page.getByTestId('offline').waitFor({ state: 'detached', timeout: 20_000 })
    await waitForRequest(requests, (u) => u.endsWith('/api/me'), closed, 'the balance re-read after the reconnect')
    await waitForRequest(requests, (u) => u.includes('/api/generations?active=1'), closed, 'unfinished jobs re-read after the reconnect')
    // Back to the foreground (Telegram 8.0 visibility_changed): the app looks again.
    const shown = Date.now()
    await send(page, 'visibility_changed', { is_visible: true })
    await waitForRequest(requests, (u) => u.includes('/api/generations?active=1'), shown, 're-read in the foreground')
    await checkpoint(t, 'result')
  },
  async stars(t) {
    const { page, user } = t
    await page.getByTestId('balance').click()
    await page.getByTestId('stars-pack_100').waitFor()
    // Stars first (Telegram's rule for digital goods), the card second.
    const order = await page.getByTestId('product-pack_100').locator('button').evaluateAll((b) => b.map((x) => x.dataset.testid))
    check(order[0] === 'stars-pack_100' && order[1] === 'buy-pack_100', `buttons in order ${order}`)
    await expectText(page.getByTestId('buy-pack_100'), /^Картой · 199 ₽$/, 'the card price in whole roubles')
    await checkpoint(t, 'plans')
    // A payment that fails in Telegram's sheet: said, and felt.
    const first = page.waitForResponse((r) => r.url().endsWith('/api/payments') && r.request().method() === 'POST')
    await page.getByTestId('stars-pack_100').click()
    await first
    const failedInvoice = await waitForEvent(page, 'web_app_open_invoice')
    await send(page, 'invoice_closed', { slug: failedInvoice.slug, status: 'failed' })
    await page.getByTestId('error').waitFor()
    await waitForEvent(page, 'web_app_trigger_haptic_feedback', (h) => h.notification_type === 'error')
    const created = page.waitForResponse((r) => r.url().endsWith('/api/payments') && r.request().method() === 'POST')
    await page.getByTestId('stars-pack_100').click()
    const payment = await (await created).json()
    const invoice = await waitForEvent(page, 'web_app_open_invoice', (i) => i.slug !== failedInvoice.slug)
    check(payment.invoice_link.endsWith(`$${invoice.slug}`), `invoice ${invoice.slug} is not ${payment.invoice_link}`)
    // Telegram's side: the pre-checkout query, the payment, then the sheet closes as paid.
    const from = { id: user, is_bot: false, first_name: 'E2E', language_code: 'ru' }
    await postUpdate(TG.base, TG.secret, {
      update_id: user,
      pre_checkout_query: { id: `pcq-${user}`, from, currency: 'XTR', total_amount: payment.price_stars, invoice_payload: payment.payment_id },
    })
    await postUpdate(TG.base, TG.secret, {
      update_id: user + 1,
      message: {
        message_id: 1,
        date: Math.floor(Date.now() / 1000),
        chat: { id: user, type: 'private' },
        from,
        successful_payment: {
          currency: 'XTR',
          total_amount: payment.price_stars,
          invoice_payload: payment.payment_id,
          telegram_payment_charge_id: `stxe2e${user}`,
          provider_payment_charge_id: '',
        },
      },
    })
    await send(page, 'invoice_closed', { slug: invoice.slug, status: 'paid' })
    await page.getByTestId('payment-succeeded').waitFor({ timeout: 30_000 })
    await expectText(page.getByTestId('balance'), /110 кредитов/, 'the Stars pack arrived')
    await waitForEvent(page, 'web_app_trigger_haptic_feedback', (h) => h.notification_type === 'success')
    await checkpoint(t, 'paid')
  },
  async yookassa(t) {
    const { page, user } = t
    await page.getByTestId('balance').click()
    await page.getByTestId('buy-pack_100').click()
    // The checkout opens in the external browser; the Mini App stays and follows the payment.
    const { url } = await waitForEvent(page, 'web_app_open_link')
    await page.getByTestId('payment-pending').waitFor()
    const external = await t.browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'ru-RU' })
    await external.addInitScript(layoutShiftScript)
    const browserPage = await external.newPage()
    await browserPage.goto(url)
    await browserPage.locator('#pay').click()
    await browserPage.waitForURL(/\/plans\?payment=.*&sig=/)
    // The return page outside Telegram: the outcome and the way back, never an error.
    await expectText(browserPage.getByTestId('return-succeeded'), /Оплата прошла: \+100/, 'the outcome on the return page')
    const back = await browserPage.getByTestId('back-to-telegram').getAttribute('href')
    const id = new URL(browserPage.url()).searchParams.get('payment').replaceAll('-', '')
    check(back === `https://t.me/${TG.botUsername}/${TG.appName}?startapp=paid_${id}`, `the way back is ${back}`)
    check((await browserPage.getByRole('alert').count()) === 0, 'an error on the return page')
    await checkpoint({ ...t, page: browserPage, mode: 'browser', palette: 'light', width: 390 }, 'return-page')
    await external.close()
    // Meanwhile, in Telegram.
    await page.getByTestId('payment-succeeded').waitFor({ timeout: 30_000 })
    await expectText(page.getByTestId('balance'), /110 кредитов/, 'the pack arrived in the open Mini App')
    // The link back reopens the Mini App on that payment.
    const again = await t.browser.newContext({ viewport: { width: t.width, height: 844 }, locale: 'ru-RU' })
    const reopened = await openMiniApp(again, { ...t.launch, user: t.launch.user, startParam: `paid_${id}` })
    await reopened.getByTestId('payment-succeeded').waitFor({ timeout: 30_000 })
    check(!new URL(reopened.url()).search.includes('payment'), 'a payment left in the URL')
    await again.close()
    void user
  },
  async profile(t) {
    const { page } = t
    await page.getByTestId('tab-profile').click()
    await page.getByTestId('ledger').waitFor()
    await page.getByTestId('delete-data').waitFor()
    await checkpoint(t, 'profile')
    await page.getByRole('button', { name: 'English' }).click()
    await expectText(page.getByTestId('tab-home'), /Home/, 'the app in English')
    await page.getByTestId('delete-data').click()
    await waitForEvent(page, 'web_app_open_popup', (p) => /delete/i.test(p.message))
    await expectText(page.locator('main'), /Your data was deleted/, 'the data deleted after Telegram’s confirmation')
  },
  async consents(t) {
    const { page, user } = t
    await firstPhotoThenPlan(t)
    check(await page.getByTestId('stars-sub_basic').isEnabled(), 'the tick enables the Stars plan too')
    // A card payment asks for the receipt contact: the phone number shared from Telegram.
    await page.getByTestId('buy-sub_basic').click()
    await page.getByTestId('need-contact').waitFor()
    await checkpoint(t, 'contact')
    await page.getByTestId('share-phone').click()
    await waitForEvent(page, 'web_app_request_phone')
    const { url } = await waitForEvent(page, 'web_app_open_link')
    check(url.includes('/sim/yookassa/checkout/'), `the checkout opened at ${url}`)
    await page.getByTestId('payment-pending').waitFor()
    const contact = await storedConsents('telegram', user)
    check(contact.phone === '79001234567', `the contact stored is ${JSON.stringify(contact)}`)
    await documents(t)
  },
  async 'no-credits'(t) {
    const { page, user, requests } = t
    const token = await tokenFor('telegram', user)
    const upload = await uploadFor(TG.base, token, photo('me.png', [210, 160, 130]))
    for (let i = 0; i < 10; i++) {
      await api(TG.base, '/api/chat/messages', { method: 'POST', body: JSON.stringify({ text: `идея ${i}`, upload_id: i === 0 ? upload.upload_id : undefined }) }, token)
    }
    await page.reload()
    await expectText(page.getByTestId('balance-total'), /^0 кредитов$/, 'the free credits are spent')
    await page.getByTestId('tab-tryon').click()
    await expectText(page.getByTestId('tryon-short'), /Недостаточно кредитов/, 'said before the form is filled')
    await waitForState(page, 'web_app_setup_main_button', (b) => b.is_visible && b.is_active && b.text === 'Пополнить баланс', 'MainButton leads to the plans')
    await checkpoint(t, 'short')
    await send(page, 'main_button_pressed')
    await page.getByTestId('plans').waitFor()
    check(!requests.some((r) => r.url.endsWith('/api/tryon')), 'a try-on was attempted without credits')
  },
}

// ---- running -------------------------------------------------------------------------------

// Each Telegram flow starts in its own palette, platform and width (all are checked at checkpoints).
const LAUNCH = {
  login: ['ios-light', 'ios', 390],
  tryon: ['android-dark', 'android', 320],
  quiz: ['ios-dark', 'ios', 320],
  cancel: ['android-light', 'android', 320],
  editor: ['ios-dark', 'ios', 390],
  'gallery-live': ['android-light', 'android', 390],
  'network-drop': ['ios-light', 'ios', 320],
  stars: ['android-dark', 'android', 390],
  yookassa: ['ios-light', 'ios', 390],
  profile: ['android-light', 'android', 320],
  'no-credits': ['ios-dark', 'ios', 390],
  consents: ['android-light', 'android', 320],
  onboarding: ['ios-dark', 'ios', 390],
  operator: ['android-light', 'android', 390],
}

/** Flows that start as a user who has given nothing yet (the others start with the documents
 *  accepted and a receipt e-mail, as every returning user has). */
const FRESH = new Set(['consents'])

/** Proxies the app's WebSocket so a flow can silence or close it. */
async function controllableSocket(context) {
  const control = { drop: false, lost: [], sockets: new Set() }
  await context.routeWebSocket(/\/ws(\?|$)/, (ws) => {
    const server = ws.connectToServer()
    control.sockets.add(ws)
    ws.onMessage((m) => {
      if (!control.drop) server.send(m)
    })
    server.onMessage((m) => {
      if (control.drop) control.lost.push(String(m))
      else ws.send(m)
    })
    ws.onClose(() => control.sockets.delete(ws))
    server.onClose(() => ws.close())
  })
  control.closeAll = async () => {
    for (const ws of [...control.sockets]) await ws.close({ code: 1006, reason: 'network' }).catch(() => ws.close())
  }
  return control
}

async function runFlow(browser, mode, name, flow) {
  const user = name === 'operator' ? OPERATOR : nextUser++
  const [palette, platform, width] = mode === 'telegram' ? LAUNCH[name] : ['light', null, 390]
  const errors = []
  const requests = []
  const contexts = []
  const newContext = async () => {
    const created = await browser.newContext({ viewport: { width, height: 844 }, deviceScaleFactor: 1, colorScheme: mode === 'telegram' ? 'light' : palette, locale: 'ru-RU' })
    contexts.push(created)
    await created.addInitScript(layoutShiftScript)
    created.on('request', (r) => requests.push({ url: r.url(), at: Date.now() }))
    created.on('page', (p) => p.on('pageerror', (e) => errors.push(e.message)))
    return created
  }
  const context = await newContext()
  const socket = name === 'network-drop' ? await controllableSocket(context) : null
  const notes = []
  const launch = { base: TG.base, botToken: TG.botToken, user: { id: user, first_name: 'Аня', language_code: 'ru' }, palette, theme: PALETTES[palette], platform }
  // The same user opening the Mini App on another device: a new browser context (nothing in its
  // localStorage), the same Telegram account (and so the same CloudStorage).
  const openOnAnotherDevice = async () => openMiniApp(await newContext(), launch)
  let page
  const started = Date.now()
  try {
    // A first open shows the onboarding cards: flows about something else start as users who saw them.
    if (name !== 'onboarding') {
      await api(mode === 'telegram' ? TG.base : BASE, '/api/me', { method: 'PATCH', body: JSON.stringify({ onboarded: true }) }, await tokenFor(mode, user))
    }
    if (mode === 'telegram') {
      page = await openMiniApp(context, launch)
    } else {
      page = await context.newPage()
      await page.goto(`${BASE}/?demo_user=${user}`)
    }
    const t = { page, mode, name, user, palette, width, browser, requests, socket, launch, openOnAnotherDevice, note: (n) => notes.push(n) }
    await page.getByTestId('balance').waitFor({ timeout: 30_000 })
    if (!FRESH.has(name)) await acceptTerms(mode, user)
    await flow(t)
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`)
    console.log(`ok   ${mode}/${name} ${Date.now() - started} ms${notes.length ? ` (${notes.join(', ')})` : ''}`)
    return true
  } catch (e) {
    console.error(`FAIL ${mode}/${name}: ${e.message}`)
    const last = contexts.flatMap((c) => c.pages()).at(-1) ?? page
    if (last) await last.screenshot({ path: `${SHOTS}/FAIL-${mode}-${name}.png`, fullPage: true }).catch(() => undefined)
    return false
  } finally {
    for (const c of contexts) await c.close()
  }
}

const jobs = []
for (const mode of MODES) {
  const flows = mode === 'telegram' ? telegramFlows : browserFlows
  if (mode === 'telegram') {
    if (!TG.base || !TG.botToken || !TG.secret) throw new Error('the telegram mode needs E2E_TG_BASE_URL, E2E_TG_BOT_TOKEN and E2E_TG_WEBHOOK_SECRET')
    checkSignerAgainstVectors(new URL('../../tests/vectors/telegram_init_data.json', import.meta.url).pathname)
  }
  for (const [name, flow] of Object.entries(flows)) {
    if (ONLY.length === 0 || ONLY.includes(name)) jobs.push([mode, name, flow])
  }
}

const browser = await chromium.launch({
  executablePath: env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
})
let failed = 0
const queue = [...jobs]
await Promise.all(
  Array.from({ length: Math.max(1, PARALLEL) }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      if (!(await runFlow(browser, ...job))) failed++
    }
  }),
)
await browser.close()
console.log(`${jobs.length - failed}/${jobs.length} flows passed; screenshots in ${SHOTS}`)
process.exit(failed ? 1 : 0)
