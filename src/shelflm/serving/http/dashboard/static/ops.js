// Operations (#/ops): reload a version or roll back, each behind a confirmation dialog.
import { api, h, card, muted, table, fmtTime, fmtValue, isAuth } from './app.js';

function confirmDialog() {
  const text = h('p', { id: 'confirm-text' });
  const yes = h('button', { id: 'confirm-yes', type: 'button' }, 'Yes, do it');
  const no = h('button', { id: 'confirm-no', type: 'button', class: 'secondary' }, 'Cancel');
  const dialog = h('dialog', { id: 'confirm-dialog', 'aria-labelledby': 'confirm-title' },
    h('h2', { id: 'confirm-title' }, 'Please confirm'), text, h('div', { class: 'row end' }, no, yes));
  let answer = null;
  const close = (ok) => { if (answer) { answer(ok); answer = null; } if (dialog.open) dialog.close(); };
  yes.addEventListener('click', () => close(true));
  no.addEventListener('click', () => close(false));
  dialog.addEventListener('cancel', () => close(false)); // Escape
  dialog.addEventListener('close', () => close(false));
  return {
    dialog,
    ask(message) {
      text.textContent = message;
      close(false);
      dialog.showModal();
      no.focus();
      return new Promise((resolve) => { answer = resolve; });
    },
    close: () => close(false),
  };
}

export async function render(main, ctx) {
  const status = h('p', { id: 'ops-status', role: 'status', 'aria-live': 'polite' });
  const live = h('p', { id: 'ops-live' }, 'loading…');
  const box = h('div', { id: 'ops-versions' }, muted('loading…'));
  const confirm = confirmDialog();
  ctx.onLeave(() => confirm.close());
  main.append(h('div', { 'data-testid': 'ops', class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Operations')),
    h('p', { class: 'notice' }, 'admin only: these need the admin (write) key, entered in the key box above. ',
      'A reload or roll-back swaps the model in every worker without a restart.'),
    card('Serving', live, status),
    card('Versions', box),
    confirm.dialog));

  let busy = false;
  async function act(message, path, body) {
    if (busy) return;
    if (!(await confirm.ask(message)) || !ctx.alive) return;
    busy = true;
    for (const b of box.querySelectorAll('button')) b.disabled = true;
    status.className = 'muted';
    status.textContent = 'working…';
    const res = await api(path, { method: 'POST', body });
    busy = false;
    if (!ctx.alive) return;
    if (res.ok) {
      status.className = 'ok';
      status.textContent = `now serving ${res.data?.model_version ?? '?'} (reload #${res.data?.reload_generation ?? '?'})`;
    } else {
      status.className = 'error';
      status.textContent = isAuth(res) ? 'refused: the admin key is needed (enter it in the key box above)' : res.error;
    }
    await load();
  }

  async function load() {
    const res = await api('/dashboard/api/versions');
    if (!ctx.alive) return;
    if (!res.ok) {
      ctx.authFailed(res);
      live.textContent = '';
      box.replaceChildren(h('p', { class: 'error' }, `could not list the versions: ${res.error}`));
      return;
    }
    const v = res.data || {};
    const versions = v.versions || [];
    live.replaceChildren('Live version: ', h('strong', { id: 'live-version' }, v.live ?? '–'),
      h('span', { class: 'muted' }, ` in ${v.models_dir ?? '?'}`));
    const rows = versions.map((x) => {
      const reload = h('button', { type: 'button', 'data-testid': `reload-${x.name}`, disabled: !!x.live, title: x.live ? 'already live' : null }, x.live ? 'Live' : 'Reload');
      reload.addEventListener('click', () => act(`Serve version ${x.name} in every worker?`, '/dashboard/api/reload', { artifact_dir: x.name }));
      return [x.name, reload, x.live ? h('span', { class: 'badge badge-live' }, 'live') : x.name === v.previous ? h('span', { class: 'badge' }, 'previous') : '',
        fmtTime(x.saved), fmtValue(x['ndcg@10'])];
    });
    const rollback = h('button', { id: 'rollback-button', type: 'button', disabled: !v.previous },
      v.previous ? `Roll back to ${v.previous}` : 'Roll back');
    rollback.addEventListener('click', () => act(`Roll back: serve version ${v.previous} in every worker?`, '/dashboard/api/rollback'));
    box.replaceChildren(
      versions.length ? table(['Version', 'Action', '', 'Saved', 'test ndcg@10'], rows, { id: 'versions-table' }) : muted('no versions found'),
      h('div', { class: 'row' }, rollback,
        v.previous ? h('span', { class: 'muted small' }, `the version served before ${v.live ?? 'this one'}`)
          : h('span', { class: 'muted small', id: 'rollback-why' }, 'nothing to roll back to: no version was served before this one')));
  }

  await load();
  ctx.ready('ops');
}
