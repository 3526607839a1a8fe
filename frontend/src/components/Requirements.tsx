import { useEffect, useState } from 'react'
import { api, type LegalDoc, type Need } from '../api'
import { useApp } from '../app-context'
import { canRequestPhone, haptic, requestPhone } from '../telegram'
import { Markdown } from './Markdown'
import { Button, ErrorBox } from './ui'

/** Records the consent to the current version of `kind`. */
async function consent(kind: 'privacy' | 'autorenew') {
  const { versions } = await api.consents()
  const version = versions[kind]
  if (!version) throw new Error(`no ${kind} document`)
  await api.giveConsent(kind, version)
}

/** What a refused request needs, asked as a sheet over the screen: the privacy consent before the
 *  first upload, the renewal consent before a first subscription (the Plans screen asks for it
 *  next to the plan; this is the fallback), or the receipt contact before a card payment. */
export function RequirementSheet({ need, onDone }: { need: Need; onDone: (given: boolean) => void }) {
  const { t, state } = useApp()
  const [doc, setDoc] = useState<LegalDoc | null>(null)
  const [showDoc, setShowDoc] = useState(false)
  const [ticked, setTicked] = useState(false)
  const [email, setEmail] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [invalid, setInvalid] = useState(false)
  const lang = state.me?.user.language_code === 'en' ? 'en' : 'ru'

  useEffect(() => {
    if (need === 'contact') return
    api
      .legal()
      .then((l) => setDoc(l.documents.find((d) => d.kind === need) ?? null))
      .catch(() => undefined)
  }, [need, lang])

  const run = async (action: () => Promise<void>) => {
    setBusy(true)
    setError(null)
    try {
      await action()
      haptic('success')
      onDone(true)
    } catch (e) {
      haptic('error')
      setError(e)
    } finally {
      setBusy(false)
    }
  }

  const saveEmail = () => {
    const value = email.trim()
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]{2,}$/.test(value)) {
      setInvalid(true)
      return
    }
    setInvalid(false)
    void run(async () => {
      await api.setContact({ email: value })
    })
  }

  const sharePhone = async () => {
    setBusy(true)
    const phone = await requestPhone()
    setBusy(false)
    // Declined in Telegram: the e-mail field stays.
    if (phone) void run(async () => void (await api.setContact({ phone })))
  }

  const title = need === 'contact' ? t.contactTitle : need === 'privacy' ? t.consentPrivacyTitle : t.autorenewTerms
  return (
    <div className="fixed inset-0 z-30 flex items-end justify-center bg-[rgba(0,0,0,0.45)]" data-testid={`need-${need}`}>
      <div
        role="dialog"
        aria-modal="true"
        aria-labelledby="need-title"
        className="flex max-h-[90dvh] w-full max-w-md flex-col gap-3 overflow-y-auto rounded-t-2xl bg-section p-4 pb-[calc(1rem+var(--safe-bottom))]"
      >
        <h2 id="need-title" className="text-lg font-semibold">
          {title}
        </h2>
        {need === 'contact' ? (
          <>
            <p className="text-sm text-hint">{t.contactText}</p>
            {canRequestPhone() && (
              <Button testId="share-phone" disabled={busy} onClick={() => void sharePhone()}>
                {t.sharePhone}
              </Button>
            )}
            <label className="flex flex-col gap-1 text-sm">
              {t.emailLabel}
              <input
                data-testid="contact-email"
                type="email"
                inputMode="email"
                autoComplete="email"
                value={email}
                onChange={(e) => setEmail(e.target.value)}
                className="min-h-11 rounded-xl bg-field px-3 text-base text-text"
              />
            </label>
            {invalid && (
              <p role="alert" className="text-sm text-danger">
                {t.contactInvalid}
              </p>
            )}
            <Button testId="save-contact" variant={canRequestPhone() ? 'secondary' : 'primary'} disabled={busy} onClick={saveEmail}>
              {t.saveContact}
            </Button>
          </>
        ) : (
          <>
            {need === 'privacy' && <p className="text-sm">{t.consentPrivacyText}</p>}
            {doc && (showDoc || need === 'autorenew') && (
              <div className="max-h-[40dvh] overflow-y-auto rounded-xl bg-page p-3" data-testid="need-document">
                <Markdown text={doc.text} />
              </div>
            )}
            {need === 'privacy' && !showDoc && (
              <button type="button" data-testid="read-policy" className="min-h-11 text-left text-link underline" onClick={() => setShowDoc(true)}>
                {t.readPolicy}
              </button>
            )}
            <label className="flex min-h-11 items-center gap-3 text-sm">
              <input
                type="checkbox"
                data-testid="need-tick"
                checked={ticked}
                onChange={(e) => setTicked(e.target.checked)}
                className="h-11 w-11 shrink-0 accent-[var(--app-accent)]"
              />
              <span>{need === 'privacy' ? t.consentPrivacyAgree : t.autorenewAgreeTerms}</span>
            </label>
            <Button testId="need-accept" disabled={busy || !ticked} onClick={() => void run(() => consent(need))}>
              {t.accept}
            </Button>
          </>
        )}
        {error !== null && <ErrorBox error={error} />}
        <Button testId="need-cancel" variant="secondary" disabled={busy} onClick={() => onDone(false)}>
          {t.cancel}
        </Button>
      </div>
    </div>
  )
}
