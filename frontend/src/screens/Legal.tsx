import { useEffect, useState } from 'react'
import { api, type LegalDoc } from '../api'
import { useApp } from '../app-context'
import { Markdown } from '../components/Markdown'
import { Card, ErrorBox, ScreenSkeleton } from '../components/ui'
import { wantedDocument, type DocKind } from '../legal'

/** The offer, the privacy policy and the renewal terms in the UI language (Profile → Documents,
 *  and the links next to the consents). */
export function Legal() {
  const { t, state } = useApp()
  const [docs, setDocs] = useState<LegalDoc[] | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [kind, setKind] = useState<DocKind>(wantedDocument)
  const lang = state.me?.user.language_code

  useEffect(() => {
    api
      .legal()
      .then((l) => setDocs(l.documents))
      .catch(setError)
  }, [lang])

  const doc = docs?.find((d) => d.kind === kind)
  return (
    <div className="flex flex-col gap-3" data-testid="legal">
      <div role="tablist" className="flex gap-2">
        {(['offer', 'privacy', 'autorenew'] as const).map((k) => (
          <button
            key={k}
            role="tab"
            data-testid={`doc-${k}`}
            aria-selected={kind === k}
            onClick={() => setKind(k)}
            className={`min-h-11 min-w-0 flex-1 rounded-xl px-2 text-sm font-medium ${kind === k ? 'bg-accent text-accent-text' : 'bg-section text-text'}`}
          >
            {t.docTitles[k]}
          </button>
        ))}
      </div>
      {error !== null && <ErrorBox error={error} />}
      {!docs && error === null && <ScreenSkeleton label={t.loading} />}
      {doc && (
        <Card testId={`document-${doc.kind}`}>
          <p className="mb-2 text-sm text-hint">{t.docVersion(doc.version)}</p>
          <Markdown text={doc.text} />
        </Card>
      )}
    </div>
  )
}
