// The console's script: sign-in, the re-authentication prompt, and a page per hash route. Nothing here
// builds markup from strings: see dom.ts.
import { ApiError, reauth, rpc, setHooks, signIn, signOut } from './api.ts';
import { $, button, fill, h } from './dom.ts';
import { clearNotice, failed } from './notice.ts';
import { overview } from './pages/overview.ts';
import { sessions } from './pages/sessions.ts';
import { users } from './pages/users.ts';
import { clients } from './pages/clients.ts';
import { audit } from './pages/audit.ts';
import { feed } from './pages/feed.ts';
import { webhooks } from './pages/webhooks.ts';

type Page = (main: HTMLElement) => Promise<void | (() => void)>;
const PAGES: Record<string, Page> = { overview, sessions, users, clients, audit, feed, webhooks };

const main = $<HTMLElement>('main');
let cleanup: (() => void) | undefined;
let signedIn = false;

function showSignIn(message = ''): void {
  signedIn = false;
  cleanup?.();
  cleanup = undefined;
  $('nav').hidden = true;
  fill($('who'));
  const login = h('input', { name: 'login', id: 'login', autocomplete: 'username', required: true });
  const password = h('input', { name: 'password', id: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'error', id: 'signin-error' }, message);
  const form = h('form', { id: 'signin' }, h('h1', {}, 'Sign in'), h('p', { class: 'muted' }, "An administrator's login and password."), h('label', {}, 'Login', login), h('label', {}, 'Password', password), error, h('button', { type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      try {
        const { user } = await signIn(login.value, password.value);
        enter(user.login);
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.problem.message + (err.problem.data?.detail ? `: ${err.problem.data.detail}` : '') : String(err);
      }
    })();
  });
  fill(main, h('div', { class: 'signin' }, form));
}

function enter(login: string): void {
  signedIn = true;
  $('nav').hidden = false;
  fill(
    $('who'),
    h('span', { id: 'who-login' }, `signed in as ${login}`),
    button('Sign out', async () => {
      await signOut().catch(() => {});
      showSignIn('Signed out.');
    }, 'secondary'),
  );
  void route();
}

async function route(): Promise<void> {
  if (!signedIn) return;
  const name = location.hash.replace(/^#\/?/, '') || 'overview';
  const page = PAGES[name] ?? overview;
  cleanup?.();
  cleanup = undefined;
  clearNotice();
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) a.classList.toggle('active', a.dataset.page === (PAGES[name] ? name : 'overview'));
  fill(main, h('p', { class: 'muted' }, 'Loading...'));
  try {
    const done = await page(main);
    if (done) cleanup = done;
  } catch (err) {
    if (signedIn) {
      fill(main, h('h1', {}, 'This page could not load'));
      failed(err);
    }
  }
}

/** The password prompt: answers true once a re-authentication succeeded, false when cancelled. */
function askPassword(detail: string): Promise<boolean> {
  const dialog = $<HTMLDialogElement>('reauth');
  const form = $<HTMLFormElement>('reauth-form');
  const input = $<HTMLInputElement>('reauth-password');
  const error = $('reauth-error');
  $('reauth-text').textContent = detail;
  error.textContent = '';
  input.value = '';
  dialog.showModal();
  return new Promise((resolve) => {
    const finish = (ok: boolean) => {
      form.removeEventListener('submit', onSubmit);
      $('reauth-cancel').removeEventListener('click', onCancel);
      dialog.close();
      resolve(ok);
    };
    const onSubmit = (e: Event) => {
      e.preventDefault();
      void reauth(input.value).then(
        () => finish(true),
        (err: unknown) => void (error.textContent = err instanceof Error ? err.message : String(err)),
      );
    };
    const onCancel = () => finish(false);
    form.addEventListener('submit', onSubmit);
    $('reauth-cancel').addEventListener('click', onCancel);
  });
}

setHooks({ signedOut: () => showSignIn('Your session ended: sign in again.'), reauthenticate: askPassword });
window.addEventListener('hashchange', () => void route());

// Signed in already (the cookie holds a live session)?
rpc<{ user: { login: string; is_admin: boolean } }>('me').then(
  ({ user }) => (user.is_admin ? enter(user.login) : showSignIn()),
  () => showSignIn(),
);
