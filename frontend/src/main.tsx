import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import App from './App'
import './index.css'
import { initTelegram } from './telegram'

initTelegram()
const root = document.getElementById('root')!
// index.html's placeholder stays on screen (rendered by App) until the user is logged in.
const skeleton = root.innerHTML
createRoot(root).render(
  <StrictMode>
    <App skeleton={skeleton} />
  </StrictMode>,
)
