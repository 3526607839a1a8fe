// Inline icons (no emoji: not every device or headless browser has an emoji font).
const paths: Record<string, string> = {
  home: 'M3 11l9-8 9 8v9a1 1 0 0 1-1 1h-5v-6H9v6H4a1 1 0 0 1-1-1z',
  tryon: 'M8 3l-5 3 2 5 3-1v11h8V10l3 1 2-5-5-3a4 4 0 0 1-8 0z',
  editor: 'M12 2l2.2 6.3L21 9l-5.2 4 1.9 6.6L12 16l-5.7 3.6L8.2 13 3 9l6.8-.7z',
  gallery: 'M3 4h18v16H3zM3 16l5-5 4 4 3-3 6 6M15 8.5a1.5 1.5 0 1 0 0 .01',
  profile: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm-8 9a8 8 0 0 1 16 0',
  attach: 'M21 11l-8.5 8.5a5 5 0 0 1-7-7L14 4a3.5 3.5 0 0 1 5 5l-8.5 8.5a2 2 0 0 1-3-3L15 7',
  bolt: 'M13 2L4 14h7l-1 8 9-12h-7z',
  send: 'M5 12h13M13 6l6 6-6 6',
  star: 'M12 2.5l2.9 6 6.6.8-4.9 4.6 1.3 6.6L12 17.2l-5.9 3.3 1.3-6.6-4.9-4.6 6.6-.8z',
}

export function Icon({ name, className = 'h-5 w-5', filled = false }: { name: keyof typeof paths | string; className?: string; filled?: boolean }) {
  return (
    <svg viewBox="0 0 24 24" className={className} fill={filled ? 'currentColor' : 'none'} stroke="currentColor" strokeWidth={1.8} strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
      <path d={paths[name]} />
    </svg>
  )
}
