import { useCallback, useEffect, useState } from 'react'

/** A cursor-paged list (gallery, credit history): the first page on mount, `load(cursor)` for
 *  the next one; `items` is null until the first page arrives. */
export function usePagedList<T>(fetchPage: (cursor: string | null) => Promise<{ items: T[]; next_cursor?: string | null }>) {
  const [items, setItems] = useState<T[] | null>(null)
  const [cursor, setCursor] = useState<string | null>(null)
  const [loading, setLoading] = useState(true)
  const [error, setError] = useState<unknown>(null)

  const load = useCallback(
    async (from: string | null) => {
      setLoading(true)
      setError(null)
      try {
        const page = await fetchPage(from)
        setItems((prev) => [...(from ? (prev ?? []) : []), ...page.items])
        setCursor(page.next_cursor ?? null)
      } catch (e) {
        setError(e)
      } finally {
        setLoading(false)
      }
    },
    [fetchPage],
  )

  useEffect(() => {
    void load(null)
  }, [load])

  return { items, setItems, cursor, loading, error, setError, load }
}
