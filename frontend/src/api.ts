// The backend's JSON API (docs/API.md). Every response is validated with zod; errors carry
// the server's localised message.
import { z } from 'zod'

export const Balance = z.object({
  free: z.number(),
  subscription: z.number(),
  purchased: z.number(),
  total: z.number(),
  free_resets_at: z.string().nullable().optional(),
  subscription_expires_at: z.string().nullable().optional(),
})
export type Balance = z.infer<typeof Balance>

export const User = z.object({
  id: z.number(),
  first_name: z.string(),
  username: z.string().nullable().optional(),
  language_code: z.string(),
  is_admin: z.boolean().optional(),
})

export const Plan = z.object({
  product: z.string(),
  status: z.string(),
  period_end: z.string(),
  auto_renew: z.boolean(),
  credits_per_period: z.number(),
})
export type Plan = z.infer<typeof Plan>

export const Me = z.object({
  user: User,
  balance: Balance,
  plan: Plan.nullable().optional(),
  prices: z.object({ tryon: z.number(), chat_message: z.number(), edit_generation: z.number() }),
  demo: z.boolean(),
  /** Invitations (`t.me/<bot>?startapp=ref_<code>`), the reminders switch, onboarding seen. */
  referral_link: z.string().optional(),
  referral: z
    .object({ code: z.string(), invited: z.number(), rewarded: z.number(), credits_invitee: z.number(), credits_inviter: z.number() })
    .optional(),
  reminders_off: z.boolean().optional(),
  onboarded: z.boolean().optional(),
  free_monthly: z.number().optional(),
})
export type Me = z.infer<typeof Me>

export const Upload = z.object({
  upload_id: z.string(),
  url: z.string(),
  width: z.number(),
  height: z.number(),
  /** Try-on photos: `person` or `garment` ("my photos", "my wardrobe"). */
  kind: z.string().nullable().optional(),
  /** Only in the answer to the upload: what may make the try-on worse (`small`, `dark`, `bright`, `blurry`). */
  warnings: z.array(z.string()).optional(),
})
export type Upload = z.infer<typeof Upload>

export const Accepted = z.object({ generation_id: z.string(), cost: z.number(), watermarked: z.boolean() })

export const Generation = z.object({
  id: z.string(),
  kind: z.string(),
  category: z.string().nullable().optional(),
  status: z.enum(['queued', 'submitted', 'running', 'succeeded', 'failed']),
  stage: z.string().nullable().optional(),
  result_url: z.string().nullable().optional(),
  /** The person photo (try-on) or the edited picture: the "before" of a comparison. */
  input_url: z.string().nullable().optional(),
  rating: z.enum(['up', 'down']).nullable().optional(),
  watermarked: z.boolean(),
  cost: z.number(),
  refunded: z.boolean(),
  error: z.object({ code: z.string(), message: z.string(), credits_returned: z.boolean() }).nullable().optional(),
  created_at: z.string(),
  finished_at: z.string().nullable().optional(),
})
export type Generation = z.infer<typeof Generation>
/** A card of the quiz's "what to try on" step (`GET /api/tryon/categories`). */
export const Category = z.object({ id: z.string(), title: z.string(), icon: z.string().optional() })
export type Category = z.infer<typeof Category>
export type PhotoKind = 'person' | 'garment'

export const GenerationPage = z.object({ items: z.array(Generation), next_cursor: z.string().nullable() })

/** An assistant suggestion: `title` and `description` in the user's language, `prompt` in English
 *  for the image model (shown only when the user edits it). */
export const Variant = z.object({
  id: z.string(),
  title: z.string(),
  description: z.string().nullable().optional(),
  prompt: z.string(),
})
export type Variant = z.infer<typeof Variant>
export const ChatMessage = z.object({
  id: z.string(),
  role: z.enum(['user', 'assistant']),
  kind: z.string(),
  text: z.string().optional().default(''),
  image_url: z.string().nullable().optional(),
  variants: z.array(Variant).optional().default([]),
  credits_returned: z.boolean().optional(),
  /** Edit results: the generation behind the picture (download, send, go back to it). */
  generation_id: z.string().nullable().optional(),
  created_at: z.string(),
})
export type ChatMessage = z.infer<typeof ChatMessage>
export const Chat = z.object({
  messages: z.array(ChatMessage),
  current_image: z.object({ url: z.string() }).nullable(),
})
export const ChatReply = z.object({ message: ChatMessage, user_message: ChatMessage, charged: z.boolean() })

export const Product = z.object({
  id: z.string(),
  kind: z.enum(['pack', 'subscription']),
  title: z.string(),
  credits: z.number(),
  price_rub: z.string(),
  price_kopecks: z.number().optional(),
  price_stars: z.number(),
  period_days: z.number().nullable().optional(),
  available: z.boolean(),
  /** Whether it can be bought with Telegram Stars (packs, and 30-day plans). */
  stars_available: z.boolean().optional(),
  /** A promo discount the user holds for it (card payments) and the price after it. */
  discount_percent: z.number().optional(),
  discounted_price_rub: z.string().optional(),
})
export type Product = z.infer<typeof Product>
export const Payment = z.object({
  payment_id: z.string(),
  status: z.enum(['pending', 'succeeded', 'canceled', 'refunded']),
  product: z.string(),
  credits: z.number(),
  /** Roubles for YooKassa payments; null for Stars payments, which carry `amount_stars`. */
  amount_rub: z.string().nullable().optional(),
  amount_stars: z.number().nullable().optional(),
  confirmation_url: z.string().nullable().optional(),
  invoice_link: z.string().nullable().optional(),
})
export type Payment = z.infer<typeof Payment>
/** What the return page may know without a login (`GET /api/payments/{id}/return`). */
export const PaymentReturn = z.object({
  payment_id: z.string(),
  status: z.enum(['pending', 'succeeded', 'canceled', 'refunded']),
  product: z.string(),
  title: z.string().nullable().optional(),
  credits: z.number(),
  telegram_url: z.string().nullable().optional(),
})
export type PaymentReturn = z.infer<typeof PaymentReturn>

/** `POST /api/promo/redeem`: credits added, or a discount kept for a product's next payment. */
export const PromoRedeemed = z.object({
  credits: z.number().optional(),
  discount_percent: z.number().optional(),
  product: z.string().optional(),
})

export const LedgerEntry = z.object({
  id: z.number(),
  kind: z.string(),
  amount: z.number(),
  description: z.string(),
  created_at: z.string(),
})
export type LedgerEntry = z.infer<typeof LedgerEntry>
export const LedgerPage = z.object({ items: z.array(LedgerEntry), next_cursor: z.string().nullable().optional() })

export const LegalDoc = z.object({
  kind: z.enum(['offer', 'privacy', 'autorenew']),
  version: z.string(),
  language: z.string(),
  title: z.string(),
  text: z.string(),
})
export type LegalDoc = z.infer<typeof LegalDoc>
export const Legal = z.object({ language: z.string(), documents: z.array(LegalDoc) })
export const Consents = z.object({
  consents: z.array(z.object({ kind: z.string(), version: z.string(), accepted_at: z.string() })),
  missing: z.array(z.string()),
  versions: z.record(z.string(), z.string()),
})
export type Consents = z.infer<typeof Consents>
export const Contact = z.object({ email: z.string().nullable(), phone: z.string().nullable() })
export type Contact = z.infer<typeof Contact>

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message)
  }
}

let token: string | null = null
let language: string | null = null
/** The UI language, sent as Accept-Language so server-made texts (ledger lines) match it. */
export function setApiLanguage(lang: string) {
  language = lang
}
let relogin: (() => Promise<void>) | null = null
export function setToken(t: string | null) {
  token = t
}
/** Called once when the server says the token expired; the request is then repeated. */
export function setRelogin(fn: () => Promise<void>) {
  relogin = fn
}
export function getToken() {
  return token
}

/** What a refused request needs first: a consent (`403 consent_required`: the privacy policy for an
 *  upload, automatic renewal for a subscription) or a receipt contact (`409 contact_required`). */
export type Need = 'privacy' | 'autorenew' | 'contact'
let requirementHandler: ((need: Need) => Promise<boolean>) | null = null
/** Asks the user for what a request needs (App shows the consent or contact sheet); `true` when
 *  it was given, and the request is then repeated. */
export function setRequirementHandler(fn: ((need: Need) => Promise<boolean>) | null) {
  requirementHandler = fn
}

/** Asks the user for `need` now (e.g. Profile → change the receipt contact); `true` when given. */
export function askUser(need: Need): Promise<boolean> {
  return requirementHandler ? requirementHandler(need) : Promise.resolve(false)
}

/** Runs `attempt`; a consent or contact the server asks for is asked of the user and the request
 *  repeated (at most twice: a first subscription may need both). */
async function withRequirements<T>(consent: Need, attempt: () => Promise<T>): Promise<T> {
  for (let round = 0; ; round++) {
    try {
      return await attempt()
    } catch (e) {
      if (!(e instanceof ApiError) || !requirementHandler || round >= 2) throw e
      const need = e.code === 'consent_required' ? consent : e.code === 'contact_required' ? 'contact' : null
      if (!need || !(await requirementHandler(need))) throw e
    }
  }
}

type Schema<T> = { parse: (v: unknown) => T }

export function request<T>(path: string, schema: Schema<T> | null, init: RequestInit = {}): Promise<T> {
  return withRelogin(path, () => send(path, schema, init))
}

/** Runs `attempt`; when the server says the token expired, logs in again once and repeats it. */
async function withRelogin<T>(path: string, attempt: () => Promise<T>): Promise<T> {
  try {
    return await attempt()
  } catch (e) {
    if (e instanceof ApiError && e.status === 401 && relogin && !path.startsWith('/api/auth/')) {
      await relogin()
      return attempt()
    }
    throw e
  }
}

async function send<T>(path: string, schema: Schema<T> | null, init: RequestInit): Promise<T> {
  const headers = new Headers(init.headers)
  if (token) headers.set('Authorization', `Bearer ${token}`)
  if (language) headers.set('Accept-Language', language)
  if (init.body && !(init.body instanceof FormData)) headers.set('Content-Type', 'application/json')
  let response: Response
  try {
    response = await fetch(path, { ...init, headers })
  } catch {
    throw new ApiError(0, 'offline', '')
  }
  if (!response.ok) throw errorFrom(response.status, await response.text().catch(() => ''))
  if (!schema) return undefined as T
  return schema.parse(await response.json())
}

/** The server's `{"error": {code, message}}` (or a generic error for anything else). */
function errorFrom(status: number, body: string): ApiError {
  try {
    const parsed = JSON.parse(body)
    return new ApiError(status, parsed?.error?.code ?? 'internal', parsed?.error?.message ?? '')
  } catch {
    return new ApiError(status, 'internal', '')
  }
}

/** A multipart upload through XMLHttpRequest, for its upload progress (fetch has none). */
function sendWithProgress<T>(path: string, schema: Schema<T>, form: FormData, onProgress: (fraction: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', path)
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`)
    if (language) xhr.setRequestHeader('Accept-Language', language)
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total)
    }
    xhr.onerror = () => reject(new ApiError(0, 'offline', ''))
    xhr.ontimeout = () => reject(new ApiError(0, 'offline', ''))
    xhr.onload = () => {
      if (xhr.status < 200 || xhr.status >= 300) return reject(errorFrom(xhr.status, xhr.responseText))
      try {
        resolve(schema.parse(JSON.parse(xhr.responseText)))
      } catch (e) {
        reject(e)
      }
    }
    xhr.send(form)
  })
}

const UPLOAD_BUSY_RETRIES = 2

/** `request` for uploads: the privacy consent first, the same re-login on 401, with progress
 *  when asked for. A `503 unavailable` (every decode slot on the server busy; nothing was
 *  stored) is retried twice, after 2 s and 4 s, before it is shown. */
function upload(file: Blob, name: string, onProgress?: (fraction: number) => void, kind?: PhotoKind) {
  return withRequirements('privacy', () => uploadOnce(file, name, onProgress, kind))
}

async function uploadOnce(file: Blob, name: string, onProgress?: (fraction: number) => void, kind?: PhotoKind) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await withRelogin('/api/uploads', () => {
        const form = new FormData()
        if (kind) form.append('kind', kind)
        form.append('file', file, name)
        return onProgress
          ? sendWithProgress('/api/uploads', Upload, form, onProgress)
          : send('/api/uploads', Upload, { method: 'POST', body: form })
      })
    } catch (e) {
      const busy = e instanceof ApiError && e.status === 503 && e.code === 'unavailable'
      if (!busy || attempt >= UPLOAD_BUSY_RETRIES) throw e
      await new Promise((resolve) => setTimeout(resolve, 2000 * (attempt + 1)))
    }
  }
}

export const api = {
  demoStatus: () => request('/api/auth/demo', z.object({ enabled: z.boolean() })),
  devLogin: (language_code: string, telegram_id?: number) =>
    request('/api/auth/dev-login', z.object({ init_data: z.string() }), {
      method: 'POST',
      body: JSON.stringify({ language_code, telegram_id }),
    }),
  login: (init_data: string) =>
    request('/api/auth/telegram', z.object({ token: z.string() }), {
      method: 'POST',
      body: JSON.stringify({ init_data }),
    }),
  me: () => request('/api/me', Me),
  /** A one-time, 30 s ticket for `/ws?ticket=` (the session token stays out of URLs). */
  wsTicket: () => request('/api/ws/ticket', z.object({ ticket: z.string() }), { method: 'POST' }).then((t) => t.ticket),
  setLanguage: (language_code: string) =>
    request('/api/me', null, { method: 'PATCH', body: JSON.stringify({ language_code }) }),
  deleteMe: () => request('/api/me', null, { method: 'DELETE' }),
  upload: (file: Blob, name = 'photo.jpg', onProgress?: (fraction: number) => void, kind?: PhotoKind) =>
    upload(file, name, onProgress, kind),
  /** The user's earlier photos of a kind, newest first ("my photos", "my wardrobe"). */
  uploads: (kind: PhotoKind) => request(`/api/uploads?kind=${kind}`, z.object({ items: z.array(Upload) })),
  categories: () => request('/api/tryon/categories', z.array(Category)),
  cancelGeneration: (id: string) =>
    request(`/api/generations/${id}/cancel`, z.object({ status: z.string() }), { method: 'POST' }),
  rateGeneration: (id: string, rating: 'up' | 'down', reason?: string) =>
    request(`/api/generations/${id}/rating`, null, { method: 'POST', body: JSON.stringify({ rating, reason }) }),
  setReminders: (off: boolean) => request('/api/me', null, { method: 'PATCH', body: JSON.stringify({ reminders_off: off }) }),
  setOnboarded: () => request('/api/me', null, { method: 'PATCH', body: JSON.stringify({ onboarded: true }) }),
  redeemPromo: (code: string) =>
    request('/api/promo/redeem', PromoRedeemed, { method: 'POST', body: JSON.stringify({ code }) }),
  tryon: (person: string, garments: string[], category: string) =>
    request('/api/tryon', Accepted, {
      method: 'POST',
      body: JSON.stringify({ person_upload_id: person, garment_upload_ids: garments, category }),
    }),
  generation: (id: string) => request(`/api/generations/${id}`, Generation),
  generations: (cursor?: string | null) =>
    request(`/api/generations?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, GenerationPage),
  /** The unfinished jobs, newest first. */
  activeGenerations: () => request('/api/generations?active=1&limit=20', GenerationPage),
  deleteGeneration: (id: string) => request(`/api/generations/${id}`, null, { method: 'DELETE' }),
  sendGeneration: (id: string) => request(`/api/generations/${id}/send`, null, { method: 'POST' }),
  chat: () => request('/api/chat', Chat),
  say: (text: string, upload_id?: string) =>
    request('/api/chat/messages', ChatReply, { method: 'POST', body: JSON.stringify({ text, upload_id }) }),
  applyVariant: (id: string, prompt?: string) =>
    request(`/api/chat/variants/${id}/generate`, Accepted, {
      method: 'POST',
      body: JSON.stringify(prompt ? { prompt } : {}),
    }),
  clearChat: () => request('/api/chat', null, { method: 'DELETE' }),
  /** Makes a finished result of the user the chat's current image ("go back to this version"). */
  setChatImage: (generation_id: string) =>
    request('/api/chat/current', Chat, { method: 'POST', body: JSON.stringify({ generation_id }) }),
  plans: () => request('/api/plans', z.object({ products: z.array(Product) })),
  buy: (product: string, method: 'yookassa' | 'stars' = 'yookassa') =>
    withRequirements('autorenew', () =>
      request('/api/payments', Payment, { method: 'POST', body: JSON.stringify({ product, method }) }),
    ),
  /** The offer, the privacy policy and the renewal terms in the UI language. */
  legal: () => request('/api/legal', Legal),
  consents: () => request('/api/me/consents', Consents),
  giveConsent: (kind: 'offer' | 'privacy' | 'autorenew', version: string) =>
    request('/api/me/consents', null, { method: 'POST', body: JSON.stringify({ kind, version }) }),
  contact: () => request('/api/me/contact', Contact),
  setContact: (contact: { email: string } | { phone: string }) =>
    request('/api/me/contact', Contact, { method: 'PUT', body: JSON.stringify(contact) }),
  payment: (id: string) => request(`/api/payments/${encodeURIComponent(id)}`, Payment),
  paymentReturn: (id: string, sig: string) =>
    request(`/api/payments/${encodeURIComponent(id)}/return?sig=${encodeURIComponent(sig)}`, PaymentReturn),
  ledger: (cursor?: string | null) =>
    request(`/api/me/ledger?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, LedgerPage),
  cancelPlan: () => request('/api/subscription/cancel', z.object({ plan: Plan }), { method: 'POST' }),
}
