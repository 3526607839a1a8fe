import { useEffect, useState } from 'react'
import { confirmAction, haptic, shareLink } from '../telegram'
import { api, askUser, type Contact, type LedgerEntry } from '../api'
import { useApp } from '../app-context'
import { CancelPlanButton } from '../components/CancelPlan'
import { useGrowth } from '../i18n-growth'
import { Button, Card, ErrorBox, ScreenSkeleton, SectionTitle } from '../components/ui'
import { usePagedList } from '../components/usePagedList'
import { wantDocument } from '../legal'
import { clearQuiz } from '../quiz'
import { initialState } from '../state'

export function Profile({ onLanguage }: { onLanguage: (lang: 'ru' | 'en') => void }) {
  const { state, dispatch, t, refreshMe, go } = useApp()
  const [error, setError] = useState<unknown>(null)
  const [deleted, setDeleted] = useState(false)
  const b = state.balance
  return (
    <div className="flex flex-col gap-3">
      <Card>
        <p className="font-semibold">{state.me?.user.first_name}</p>
        {b && (
          <p className="mt-1 text-sm text-hint" data-testid="profile-balance">
            {t.balance}: {t.credits(b.total)} ({t.buckets.free} {b.free} · {t.buckets.subscription} {b.subscription} ·{' '}
            {t.buckets.purchased} {b.purchased})
          </p>
        )}
        <div className="mt-3 flex flex-col gap-2">
          <Button testId="open-plans" onClick={() => go('plans')}>
            {t.plans}
          </Button>
          <CancelPlanButton onError={setError} />
        </div>
      </Card>
      {state.me?.user.is_admin && (
        <Button variant="secondary" testId="open-admin" onClick={() => go('admin')}>
          {t.operator}
        </Button>
      )}
      <Invite />
      <Reminders onError={setError} />
      <SectionTitle>{t.language}</SectionTitle>
      <Card className="flex gap-2">
        {(['ru', 'en'] as const).map((l) => (
          <button
            key={l}
            aria-pressed={state.me?.user.language_code === l}
            className={`min-h-11 flex-1 rounded-xl px-4 ${state.me?.user.language_code === l ? 'bg-accent text-accent-text' : 'bg-field'}`}
            onClick={async () => {
              try {
                await api.setLanguage(l)
                onLanguage(l)
                await refreshMe()
              } catch (e) {
                setError(e)
              }
            }}
          >
            {l === 'ru' ? 'Русский' : 'English'}
          </button>
        ))}
      </Card>
      <Ledger key={b?.total ?? state.me?.balance.total} />
      <Receipts />
      <SectionTitle>{t.documents}</SectionTitle>
      <Card className="flex flex-col gap-2">
        <p className="text-sm text-hint">{t.documentsHint}</p>
        <Button
          variant="secondary"
          testId="open-legal"
          onClick={() => {
            wantDocument('offer')
            go('legal')
          }}
        >
          {t.documents}
        </Button>
      </Card>
      <p className="px-1 text-sm text-hint">{t.watermarkNote}</p>
      {error !== null && <ErrorBox error={error} />}
      {deleted ? (
        <p className="px-1 text-sm">{t.dataDeleted}</p>
      ) : (
        <Button
          variant="danger"
          testId="delete-data"
          onClick={async () => {
            if (!(await confirmAction(t.confirmDeleteData))) return
            try {
              await api.deleteMe()
              setDeleted(true)
              // The quiz's draft goes too: the local copy and the one Telegram keeps.
              dispatch({ type: 'tryon', patch: initialState.tryon })
              if (state.me) void clearQuiz(state.me.user.id)
            } catch (e) {
              setError(e)
            }
          }}
        >
          {t.deleteData}
        </Button>
      )}
    </div>
  )
}

/** Where receipts go (the contact a card payment asked for), and a way to change it. */
function Receipts() {
  const { t } = useApp()
  const [contact, setContact] = useState<Contact | null>(null)
  const load = () => api.contact().then(setContact)
  useEffect(() => {
    load().catch(() => undefined)
  }, [])
  const shown = contact?.email ?? (contact?.phone ? `+${contact.phone}` : null)
  return (
    <section className="flex flex-col gap-2" data-testid="receipts">
      <SectionTitle>{t.receipts}</SectionTitle>
      <Card className="flex items-center justify-between gap-3">
        <p className="min-w-0 break-words text-sm" data-testid="receipt-contact">
          {shown ? t.contactSaved(shown) : t.contactNone}
        </p>
        <div className="shrink-0">
          <Button
            variant="secondary"
            testId="change-contact"
            onClick={async () => {
              if (await askUser('contact')) await load().catch(() => undefined)
            }}
          >
            {shown ? t.changeContact : t.addContact}
          </Button>
        </div>
      </Card>
    </section>
  )
}

/** The personal invitation link, what it brings, and how many came through it. */
function Invite() {
  const { state } = useApp()
  const g = useGrowth()
  const [copied, setCopied] = useState(false)
  const link = state.me?.referral_link
  const r = state.me?.referral
  if (!link || !r) return null
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(link)
      setCopied(true)
      haptic('success')
    } catch {
      setCopied(false)
    }
  }
  return (
    <>
      <SectionTitle>{g.invite}</SectionTitle>
      <Card testId="invite" className="flex flex-col gap-3">
        <p className="text-sm">{g.inviteText(r.credits_inviter, r.credits_invitee)}</p>
        <input
          readOnly
          data-testid="invite-link"
          aria-label={g.invite}
          value={link}
          onFocus={(e) => e.currentTarget.select()}
          className="min-h-11 w-full rounded-xl bg-field px-3 text-sm"
        />
        <div className="flex gap-2">
          <Button testId="invite-share" onClick={() => void shareLink(link, g.shareText).then(setCopied)}>
            {g.shareLink}
          </Button>
          <Button variant="secondary" testId="invite-copy" onClick={() => void copy()}>
            {g.copyLink}
          </Button>
        </div>
        {copied && (
          <p role="status" className="text-sm text-hint">
            {g.copied}
          </p>
        )}
        <p className="text-sm text-hint" data-testid="invite-counts">
          {g.inviteCounts(r.invited, r.rewarded)}
        </p>
      </Card>
    </>
  )
}

/** The bot's reminders (free credits back, a purchase left unpaid): on unless turned off here or
 *  with `/reminders_off`. */
function Reminders({ onError }: { onError: (e: unknown) => void }) {
  const { state, refreshMe } = useApp()
  const g = useGrowth()
  const [busy, setBusy] = useState(false)
  if (!state.me || state.me.reminders_off === undefined) return null
  const on = !state.me.reminders_off
  return (
    <Card className="flex items-center justify-between gap-3">
      <div className="min-w-0">
        <p className="font-medium" id="reminders-label">
          {g.reminders}
        </p>
        <p className="text-sm text-hint">{g.remindersText}</p>
      </div>
      <button
        role="switch"
        aria-checked={on}
        aria-labelledby="reminders-label"
        data-testid="reminders-switch"
        disabled={busy}
        onClick={async () => {
          setBusy(true)
          try {
            await api.setReminders(on)
            await refreshMe()
          } catch (e) {
            onError(e)
          } finally {
            setBusy(false)
          }
        }}
        className="flex min-h-11 min-w-14 shrink-0 items-center justify-center"
      >
        <span className={`flex h-7 w-12 items-center rounded-full p-0.5 ${on ? 'justify-end bg-accent' : 'justify-start bg-line'}`}>
          <span className="h-6 w-6 rounded-full bg-section shadow" />
        </span>
      </button>
    </Card>
  )
}

/** The user's credit movements ("charged 2 for try-on", "refunded 2: generation failed"), newest
 *  first. Keyed by the balance, so it reloads when credits move. */
function Ledger() {
  const { t } = useApp()
  const { items, cursor, error, loading, load } = usePagedList<LedgerEntry>(api.ledger)
  return (
    <section className="flex flex-col gap-2" data-testid="ledger" aria-labelledby="ledger-title">
      <SectionTitle id="ledger-title">{t.ledger}</SectionTitle>
      {error !== null && <ErrorBox error={error} />}
      {items === null && error === null && <ScreenSkeleton label={t.loading} />}
      {items?.length === 0 && <p className="px-1 text-sm text-hint">{t.ledgerEmpty}</p>}
      {items && items.length > 0 && (
        <ul className="flex flex-col divide-y divide-line rounded-2xl bg-section px-4">
          {items.map((e) => (
            <li key={e.id} className="flex items-center justify-between gap-3 py-2.5 text-sm">
              <span className="min-w-0">
                {e.description}
                <span className="block text-hint">{new Date(e.created_at).toLocaleString()}</span>
              </span>
              <span className={`shrink-0 font-medium tabular-nums ${e.amount < 0 ? 'text-hint' : 'text-accent-fg'}`}>
                {e.amount > 0 ? `+${e.amount}` : e.amount}
              </span>
            </li>
          ))}
        </ul>
      )}
      {cursor && (
        <Button variant="secondary" disabled={loading} onClick={() => void load(cursor)}>
          {loading ? t.loading : t.more}
        </Button>
      )}
    </section>
  )
}
