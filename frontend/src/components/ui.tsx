import type { MouseEvent, ReactNode } from 'react'
import { ApiError } from '../api'
import { useApp } from '../app-context'
import { Icon } from './icons'

export function Spinner({ label }: { label?: string }) {
  return (
    <div role="status" className="flex items-center gap-3 text-hint">
      <span className="h-5 w-5 shrink-0 animate-spin rounded-full border-2 border-hint border-t-transparent" />
      {label && <span>{label}</span>}
    </div>
  )
}

/** Placeholder blocks in the shape of a screen while it loads (never a bare spinner). */
export function ScreenSkeleton({ label }: { label: string }) {
  return (
    <div className="flex flex-col gap-3" role="status" aria-label={label} aria-busy="true">
      <div className="shimmer h-28 rounded-2xl" />
      <div className="shimmer h-16 rounded-2xl" />
      <div className="shimmer h-16 rounded-2xl" />
    </div>
  )
}

const BUTTON = {
  primary: 'bg-accent text-accent-text',
  secondary: 'bg-tint text-link',
  danger: 'bg-danger-soft text-danger',
}

/** Every tap target is at least 44 px high. */
export function Button({
  children,
  onClick,
  disabled,
  variant = 'primary',
  type = 'button',
  testId,
  className = '',
}: {
  children: ReactNode
  onClick?: () => void
  disabled?: boolean
  variant?: keyof typeof BUTTON
  type?: 'button' | 'submit'
  testId?: string
  className?: string
}) {
  return (
    <button
      type={type}
      data-testid={testId}
      onClick={onClick}
      disabled={disabled}
      className={`min-h-11 w-full rounded-xl px-4 py-2.5 font-medium transition-transform active:scale-[0.98] disabled:opacity-50 ${BUTTON[variant]} ${className}`}
    >
      {children}
    </button>
  )
}

/** A link styled as a secondary button (downloads). */
export function ButtonLink({ href, children, testId, onClick }: { href: string; children: ReactNode; testId?: string; onClick?: (e: MouseEvent) => void }) {
  return (
    <a
      href={href}
      download
      data-testid={testId}
      onClick={onClick}
      className={`flex min-h-11 w-full items-center justify-center rounded-xl px-2 py-2.5 text-center text-[15px] font-medium ${BUTTON.secondary}`}
    >
      {children}
    </a>
  )
}

export function Card({ children, className = '', testId }: { children: ReactNode; className?: string; testId?: string }) {
  return (
    <section data-testid={testId} className={`rounded-2xl bg-section p-4 ${className}`}>
      {children}
    </section>
  )
}

/** A section title on the page, in Telegram's section-header colour. */
export function SectionTitle({ children, id }: { children: ReactNode; id?: string }) {
  return (
    <h2 id={id} className="px-1 pt-2 text-[13px] font-medium uppercase tracking-wide text-header">
      {children}
    </h2>
  )
}

/** A localised error from the API (the server's message) with what to do next. */
export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t, go } = useApp()
  const apiError = error instanceof ApiError ? error : null
  const message = apiError?.code === 'offline' ? t.offline : apiError?.message || t.errorGeneric
  const noCredits = apiError?.code === 'insufficient_credits'
  return (
    <div role="alert" data-testid="error" className="rounded-xl bg-danger-soft p-3 text-sm">
      <p className="font-medium text-danger">{noCredits ? t.notEnough : message}</p>
      {noCredits && <p className="mt-1 text-text">{message || t.notEnoughText}</p>}
      {(noCredits || onRetry) && (
        <div className="mt-1 flex gap-4">
          {noCredits && (
            <button className="min-h-11 font-medium text-link" data-testid="to-plans" onClick={() => go('plans')}>
              {t.topUp}
            </button>
          )}
          {onRetry && (
            <button className="min-h-11 font-medium text-link" onClick={onRetry}>
              {t.retry}
            </button>
          )}
        </div>
      )}
    </div>
  )
}

/** The balance, tappable to the plans (44 px tap area around a compact pill). */
export function BalancePill() {
  const { state, t, go } = useApp()
  if (!state.balance) return null
  return (
    <button data-testid="balance" onClick={() => go('plans')} className="flex min-h-11 shrink-0 items-center whitespace-nowrap" aria-label={`${t.balance}: ${t.credits(state.balance.total)}`}>
      <span className="flex items-center gap-1 rounded-full bg-section px-3 py-1.5 text-sm font-medium">
        <Icon name="bolt" className="h-4 w-4 text-accent-fg" /> {t.credits(state.balance.total)}
      </span>
    </button>
  )
}

/** A picture in a box of fixed proportions, so nothing below moves when it loads. */
export function ImageBox({ src, alt, children, testId }: { src?: string | null; alt: string; children?: ReactNode; testId?: string }) {
  return (
    <div data-testid={testId} className="relative aspect-[3/4] w-full overflow-hidden rounded-2xl bg-field">
      {src && <img src={src} alt={alt} className="absolute inset-0 h-full w-full object-contain" />}
      {children}
    </div>
  )
}
