// Following a payment until it settles: the plans screen (logged in) and the return page outside
// Telegram (no login, a signed link) poll the same way, and look again as soon as the app comes
// back to the foreground (the user returns from the checkout or from the Stars sheet).
import { useEffect, useState } from 'react'
import { onForeground } from './telegram'

type Settling = { status: 'pending' | 'succeeded' | 'canceled' | 'refunded' }

/** How often and how long a pending payment is asked about. */
export const PAYMENT_POLL_MS = 1500
const MAX_POLLS = 80

/** Polls `read` while the payment is pending; `null` id = nothing to follow. `onSettled` runs once
 *  when it stops being pending. */
export function usePayment<T extends Settling>(
  id: string | null,
  read: (id: string) => Promise<T>,
  onSettled?: (payment: T) => void,
): { payment: T | null; error: unknown } {
  const [payment, setPayment] = useState<T | null>(null)
  const [error, setError] = useState<unknown>(null)
  useEffect(() => {
    setPayment(null)
    setError(null)
    if (!id) return
    let stopped = false
    let polls = 0
    let timer: ReturnType<typeof setTimeout> | undefined
    const poll = async () => {
      clearTimeout(timer)
      try {
        const p = await read(id)
        if (stopped) return
        setPayment(p)
        setError(null)
        if (p.status === 'pending') {
          if (++polls < MAX_POLLS) timer = setTimeout(() => void poll(), PAYMENT_POLL_MS)
        } else {
          stopped = true
          onSettled?.(p)
        }
      } catch (e) {
        if (stopped) return
        setError(e)
        // Offline for a moment, or the server busy: ask again a little later.
        if (++polls < MAX_POLLS) timer = setTimeout(() => void poll(), PAYMENT_POLL_MS * 2)
      }
    }
    void poll()
    const off = onForeground(() => {
      if (!stopped) void poll()
    })
    return () => {
      stopped = true
      clearTimeout(timer)
      off()
    }
    // `read` and `onSettled` are the caller's current functions; only a new id restarts.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id])
  return { payment, error }
}

/** `199 ₽` for 19900 kopecks, `199,50 ₽` with kopecks (`199.50 ₽` in English). */
export function formatRub(kopecks: number, lang: 'ru' | 'en'): string {
  const whole = kopecks % 100 === 0
  const number = new Intl.NumberFormat(lang === 'en' ? 'en-GB' : 'ru-RU', {
    minimumFractionDigits: whole ? 0 : 2,
    maximumFractionDigits: 2,
  }).format(kopecks / 100)
  return `${number} ₽`
}

/** The payment id in `startapp=paid_<id>` (the link back from a payment page outside Telegram). */
export function paidStartParam(param: string | undefined): string | null {
  const m = /^paid_([0-9a-f-]{32,36})$/i.exec(param ?? '')
  return m ? m[1] : null
}
