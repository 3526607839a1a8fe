import { api } from '../api'
import { useApp } from '../app-context'
import { confirmAction } from '../telegram'
import { Button } from './ui'

/** "Turn off auto-renewal": one tap (and Telegram's confirmation), on Plans and in Profile. Shown
 *  only while the plan renews. */
export function CancelPlanButton({ onError }: { onError: (e: unknown) => void }) {
  const { state, t, refreshMe } = useApp()
  if (!state.me?.plan?.auto_renew) return null
  return (
    <Button
      variant="secondary"
      testId="cancel-plan"
      onClick={async () => {
        if (!(await confirmAction(t.confirmCancelPlan))) return
        try {
          await api.cancelPlan()
          await refreshMe()
        } catch (e) {
          onError(e)
        }
      }}
    >
      {t.cancelPlan}
    </Button>
  )
}
