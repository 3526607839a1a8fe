// Shared test data.

/** `GET /api/me` of a user on the Basic plan (renewing). */
export const meWithPlan = {
  user: { id: 1, first_name: 'Аня', language_code: 'ru' },
  balance: { free: 0, subscription: 50, purchased: 0, total: 50 },
  plan: { product: 'sub_basic', status: 'active', period_end: '2026-12-24T00:00:00Z', auto_renew: true, credits_per_period: 50 },
  prices: { tryon: 2, chat_message: 1, edit_generation: 1 },
  demo: false,
}
