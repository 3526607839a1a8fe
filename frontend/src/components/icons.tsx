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
  check: 'M5 12.5l4.5 4.5L19 7.5',
  cross: 'M6 6l12 12M18 6L6 18',
  'thumb-up': 'M7 11v9H4v-9zM7 11l4-8a2 2 0 0 1 2 2v4h5.5a2 2 0 0 1 2 2.3l-1.2 7A2 2 0 0 1 17.3 20H7',
  'thumb-down': 'M17 13V4h3v9zM17 13l-4 8a2 2 0 0 1-2-2v-4H5.5a2 2 0 0 1-2-2.3l1.2-7A2 2 0 0 1 6.7 4H17',
  expand: 'M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5',
  share: 'M12 3v12M7 8l5-5 5 5M5 13v7h14v-7',
  // Try-on categories (`GET /api/tryon/categories` `icon`).
  outfit: 'M9 3l-4 3 1.5 4L8 9.5V21h8V9.5l1.5.5L19 6l-4-3a3 3 0 0 1-6 0zM8 14h8',
  shirt: 'M8 3l-5 3 2 5 3-1v11h8V10l3 1 2-5-5-3a4 4 0 0 1-8 0z',
  trousers: 'M6 3h12l1 18h-5l-2-11-2 11H5z',
  dress: 'M9 3h6l-1 5 5 13H5l5-13z',
  coat: 'M8 3l-4 3v15h5V11l3 4 3-4v10h5V6l-4-3-4 5z',
  shoe: 'M3 17V9h5l2 3 8 2a3 3 0 0 1 3 3v1H3z',
  hat: 'M3 17h18M6 17c0-6 2.5-10 6-10s6 4 6 10',
  glasses: 'M3 13a3.5 3.5 0 1 0 7 0 3.5 3.5 0 1 0-7 0M14 13a3.5 3.5 0 1 0 7 0 3.5 3.5 0 1 0-7 0M10 13h4M3 13l1-5M21 13l-1-5',
  bag: 'M5 8h14l-1 13H6zM9 8V6a3 3 0 0 1 6 0v2',
  ring: 'M6 14a6 6 0 1 0 12 0 6 6 0 1 0-12 0M9.5 4h5L12 8z',
  scarf: 'M7 3h10v6l-3 3 2 9h-4l-1-7-4-5z',
  hanger: 'M12 7a2 2 0 1 1 2-2M12 7v2L3 16h18l-9-7',
}

export function Icon({ name, className = 'h-5 w-5', filled = false }: { name: keyof typeof paths | string; className?: string; filled?: boolean }) {
  return (
    <svg viewBox="0 0 24 24" className={className} fill={filled ? 'currentColor' : 'none'} stroke="currentColor" strokeWidth={1.8} strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
      <path d={paths[name]} />
    </svg>
  )
}
