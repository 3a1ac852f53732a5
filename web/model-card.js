/**
 * model-card.js — the current model's card, one click away: a dialog built from the file's own metadata (dataset,
 * size, how it was trained, FD against the data's floor, class accuracy) with a link to the full card beside a
 * shipped file.
 */
import { meta } from './model-list.js';

function json(text) {
  try { return text ? JSON.parse(text) : null; } catch { return null; }
}

/** The card's rows [[label, value], ...] for a model config (its metadata, or a diffusers config's fields). */
export function cardRows(cfg, name) {
  const rows = [['Model', name]];
  const m = (k) => meta(cfg, k);
  rows.push(['Size', `${(cfg.params / 1e6).toFixed(2)} M parameters, ${cfg.imageSize}×${cfg.imageSize}×${cfg.inChannels}` +
    `, ${(cfg.flops / 1e9).toFixed(2)} GFLOP per evaluation` + (m('dtype') ? `, weights ${m('dtype')}` : '')]);
  rows.push(['Process', `T = ${cfg.numTimesteps}, ${cfg.schedule} schedule, predicts ${cfg.prediction}` +
    (cfg.numClasses ? `, ${cfg.numClasses} classes (classifier-free guidance)` : ', unconditional')]);
  if (m('dataset')) rows.push(['Data', m('dataset')]);
  if (m('train_steps')) {
    rows.push(['Training', `${Number(m('train_steps')).toLocaleString('en')} steps of batch ${m('train_batch') ?? '?'}` +
      (m('train_images') ? ` (${Number(m('train_images')).toLocaleString('en')} images)` : '') +
      (m('train_hours') ? `, ${m('train_hours')} h on a CPU` : '') + (m('train_lr') ? `, lr ${m('train_lr')}` : '') +
      (m('train_ema') ? `, EMA ${m('train_ema')}` : '') + (m('weights') ? `; ${m('weights')} weights` : '')]);
  }
  const fd = Number(m('fd_10k')), floor = Number(m('fd_floor_10k'));
  if (fd > 0) {
    rows.push(['Quality', `FD ${fd.toFixed(3)}` + (floor > 0 ? ` (the data's own train/test floor: ${floor.toFixed(3)}; ` +
      `${(fd / floor).toFixed(1)}×)` : '') + (m('fd_10k_protocol') ? ` — ${m('fd_10k_protocol')}` : '')]);
  }
  const metrics = json(m('metrics'));
  const guided = metrics && Object.values(metrics).find((v) => v && typeof v === 'object' && v.mean_class_accuracy != null);
  if (guided) rows.push(['Class accuracy', `${(100 * guided.mean_class_accuracy).toFixed(1)}% of samples classified as ` +
    `their class (mean over classes; n = ${guided.n})`]);
  if (cfg.format === 'diffusers') rows.push(['Format', 'diffusers UNet2DModel' + (cfg.defaults?.sampler ? `, scheduler → ${cfg.defaults.sampler}` : '')]);
  return rows;
}

/** dialog: a <dialog> with a <dl>, an <a> for the full card and a close button; opener: the button that opens it. */
export function setupModelCard(dialog, opener) {
  const list = dialog.querySelector('dl'), link = dialog.querySelector('a'), close = dialog.querySelector('button');
  let current = null;

  function set(cfg, name, cardUrl) {
    current = { cfg, name, cardUrl };
    opener.hidden = !cfg;
  }

  function open() {
    if (!current) return;
    const rows = cardRows(current.cfg, current.name);
    list.replaceChildren(...rows.flatMap(([k, v]) => {
      const dt = document.createElement('dt'), dd = document.createElement('dd');
      dt.textContent = k;
      dd.textContent = v;
      return [dt, dd];
    }));
    link.hidden = !current.cardUrl;
    if (current.cardUrl) link.href = current.cardUrl;
    dialog.showModal();
    close.focus();
  }

  opener.addEventListener('click', open);
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => opener.focus());
  return { set, open };
}
