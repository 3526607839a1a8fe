import type { ReactNode } from 'react'
import { ApiError } from '../api'
import { useApp } from '../app-context'
import { Icon } from './icons'

export function Spinner({ label }: { label?: string }) {
  return (
    <div role="status" className="flex items-center gap-3 text-hint">
      <span className="h-5 w-5 animate-spin rounded-full border-2 border-hint border-t-transparent" />
      {label && <span>{label}</span>}
    </div>
  )
}

export function Button({
  children,
  onClick,
  disabled,
  variant = 'primary',
  type = 'button',
  testId,
}: {
  children: ReactNode
  onClick?: () => void
  disabled?: boolean
  variant?: 'primary' | 'secondary' | 'danger'
  type?: 'button' | 'submit'
  testId?: string
}) {
  const styles = {
    primary: 'bg-accent text-accent-text',
    secondary: 'bg-bg-2 text-text',
    danger: 'bg-bg-2 text-danger',
  }[variant]
  return (
    <button
      type={type}
      data-testid={testId}
      onClick={onClick}
      disabled={disabled}
      className={`w-full rounded-xl px-4 py-3 font-medium transition active:scale-[0.98] disabled:opacity-50 ${styles}`}
    >
      {children}
    </button>
  )
}

export function Card({ children, className = '' }: { children: ReactNode; className?: string }) {
  return <section className={`rounded-2xl bg-bg-2 p-4 ${className}`}>{children}</section>
}

/** A localised error from the API (the server's message) with what to do next. */
export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t, go } = useApp()
  const apiError = error instanceof ApiError ? error : null
  const message = apiError?.code === 'offline' ? t.offline : apiError?.message || t.errorGeneric
  const noCredits = apiError?.code === 'insufficient_credits'
  return (
    <div role="alert" data-testid="error" className="rounded-xl border border-danger-line bg-danger-soft p-3 text-sm">
      <p className="font-medium text-danger">{noCredits ? t.notEnough : message}</p>
      {noCredits && <p className="mt-1 text-hint">{message || t.notEnoughText}</p>}
      <div className="mt-2 flex gap-3">
        {noCredits && (
          <button className="text-link underline" data-testid="to-plans" onClick={() => go('plans')}>
            {t.plans}
          </button>
        )}
        {onRetry && (
          <button className="text-link underline" onClick={onRetry}>
            {t.retry}
          </button>
        )}
      </div>
    </div>
  )
}

export function BalancePill() {
  const { state, t, go } = useApp()
  if (!state.balance) return null
  return (
    <button
      data-testid="balance"
      onClick={() => go('plans')}
      className="flex items-center gap-1 rounded-full bg-bg-2 px-3 py-1 text-sm font-medium"
      aria-label={t.balance}
    >
      <Icon name="bolt" className="h-4 w-4 text-accent" /> {t.credits(state.balance.total)}
    </button>
  )
}
