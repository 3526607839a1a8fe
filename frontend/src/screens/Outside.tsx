import { api, type PaymentReturn } from '../api'
import { Card, Spinner } from '../components/ui'
import type { Strings } from '../i18n'
import { usePayment } from '../payments'

/** The app opened outside Telegram where there is no demo login: most often the browser YooKassa
 *  returned the payer to (`/plans?payment=<id>&sig=<signature>`). It shows the payment's outcome
 *  from the signed link and the way back into Telegram — never a login error. */
export function Outside({ t }: { t: Strings }) {
  const params = new URLSearchParams(location.search)
  const id = params.get('payment')
  const sig = params.get('sig')
  return (
    <main className="mx-auto flex min-h-[100dvh] max-w-md flex-col justify-center gap-3 p-4" data-testid="outside">
      {id && sig ? <Return id={id} sig={sig} t={t} /> : <OpenInTelegram t={t} url={null} />}
    </main>
  )
}

function Return({ id, sig, t }: { id: string; sig: string; t: Strings }) {
  const { payment, error } = usePayment<PaymentReturn>(id, (payment) => api.paymentReturn(payment, sig))
  if (!payment) {
    // A link that is not (or no longer) valid says nothing about a payment: the app knows.
    return error !== null ? <OpenInTelegram t={t} url={null} /> : <Spinner label={t.paymentPending} />
  }
  const text =
    payment.status === 'succeeded'
      ? t.paymentSucceeded(payment.credits)
      : payment.status === 'pending'
        ? t.paymentPending
        : t.paymentCanceled
  return (
    <>
      <Card testId={`return-${payment.status}`}>
        <p className="text-lg font-semibold" role="status">
          {text}
        </p>
        {payment.title && <p className="mt-1 text-sm text-hint">{t.purchase(payment.title)}</p>}
        <p className="mt-3 text-sm">{payment.status === 'succeeded' ? t.returnCreditsThere : t.returnCheckThere}</p>
      </Card>
      <OpenInTelegram t={t} url={payment.telegram_url ?? null} />
    </>
  )
}

function OpenInTelegram({ t, url }: { t: Strings; url: string | null }) {
  if (url) {
    return (
      <a
        href={url}
        data-testid="back-to-telegram"
        className="flex min-h-11 w-full items-center justify-center rounded-xl bg-accent px-4 py-2.5 font-medium text-accent-text"
      >
        {t.backToTelegram}
      </a>
    )
  }
  return (
    <Card testId="open-in-telegram">
      <p className="font-medium">{t.openInTelegram}</p>
      <p className="mt-1 text-sm text-hint">{t.openInTelegramText}</p>
    </Card>
  )
}
