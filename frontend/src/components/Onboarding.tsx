import { useState } from 'react'
import { api } from '../api'
import { useApp } from '../app-context'
import { useGrowth } from '../i18n-growth'
import { Button } from './ui'

/** Three short cards on the first open: what the app does, what it costs, the free tier — each
 *  with an example. Skippable; once finished or skipped the server remembers it
 *  (`PATCH /api/me {onboarded: true}`), so it is shown once per user, on any device. */
export function Onboarding({ onDone }: { onDone: () => void }) {
  const { state } = useApp()
  const g = useGrowth()
  const prices = state.me?.prices
  const cards = g.onboarding(prices?.tryon ?? 2, prices?.edit_generation ?? 1, state.me?.free_monthly ?? 10)
  const [step, setStep] = useState(0)
  const finish = () => {
    onDone()
    // Remembered on the server; if that fails the cards simply come back next time.
    void api.setOnboarded().catch(() => undefined)
  }
  const card = cards[step]
  const last = step === cards.length - 1
  return (
    <div
      role="dialog"
      aria-modal="true"
      aria-labelledby="onboarding-title"
      data-testid="onboarding"
      data-step={step + 1}
      className="fixed inset-0 z-30 flex flex-col bg-page"
    >
      <div className="mx-auto flex w-full max-w-md flex-1 flex-col gap-4 overflow-y-auto p-4 pb-[calc(1rem+var(--safe-bottom))]">
        <div className="flex items-center justify-between">
          <span className="text-sm text-hint" data-testid="onboarding-step">
            {g.step(step + 1, cards.length)}
          </span>
          <button data-testid="onboarding-skip" className="min-h-11 min-w-11 px-2 font-medium text-link" onClick={finish}>
            {g.skip}
          </button>
        </div>
        <Example step={step} />
        <div className="rounded-2xl bg-section p-4">
          <h2 id="onboarding-title" className="text-xl font-semibold">
            {card.title}
          </h2>
          <p className="mt-2 text-[15px] leading-snug">{card.text}</p>
        </div>
        <div className="flex justify-center gap-2" aria-hidden="true">
          {cards.map((_, i) => (
            <span key={i} className={`h-2 w-2 rounded-full ${i === step ? 'bg-accent' : 'bg-line'}`} />
          ))}
        </div>
        <div className="mt-auto">
          <Button testId="onboarding-next" onClick={() => (last ? finish() : setStep(step + 1))}>
            {last ? g.start : g.next}
          </Button>
        </div>
      </div>
    </div>
  )
}

/** An example result per card (drawn, so it needs no download): a try-on, an edit, a result
 *  with the free tier's watermark. */
function Example({ step }: { step: number }) {
  const g = useGrowth()
  const before = { top: '#b9bec7', bg: '#dfe6ee' }
  const after = [
    { top: '#2f6fd6', bg: '#dfe6ee' },
    { top: '#b9bec7', bg: '#8fd0e8' },
    { top: '#c0392b', bg: '#dfe6ee' },
  ][step]
  return (
    <div className="grid grid-cols-2 gap-3" data-testid="onboarding-example">
      {[
        { label: g.exampleBefore, look: before, watermark: false },
        { label: g.exampleAfter, look: after, watermark: step === 2 },
      ].map(({ label, look, watermark }) => (
        <figure key={label} className="flex flex-col gap-1.5">
          <svg viewBox="0 0 120 160" className="aspect-[3/4] w-full rounded-2xl" role="img" aria-label={label}>
            <rect width="120" height="160" fill={look.bg} />
            {step === 1 && label === g.exampleAfter && <path d="M0 118 Q30 108 60 118 T120 118 V160 H0 Z" fill="#4aa3c7" />}
            <circle cx="60" cy="42" r="16" fill="#e8c4a8" />
            <path d="M60 28 q-17 0 -17 16 q4 -9 17 -10 q13 1 17 10 q0 -16 -17 -16z" fill="#5b3a29" />
            <path d="M34 72 q26 -14 52 0 l6 48 h-64 z" fill={look.top} />
            <rect x="40" y="120" width="17" height="36" rx="4" fill="#3d4450" />
            <rect x="63" y="120" width="17" height="36" rx="4" fill="#3d4450" />
            {watermark && (
              <g fill="#ffffff" opacity="0.75" fontSize="11" fontFamily="sans-serif" transform="rotate(-30 60 80)">
                <text x="14" y="70">Primerka</text>
                <text x="40" y="104">Primerka</text>
              </g>
            )}
          </svg>
          <figcaption className="text-center text-sm text-hint">{label}</figcaption>
        </figure>
      ))}
    </div>
  )
}
