/*
 * sampler-fields.js — the demo page's sampler controls: the samplers' names for people, the fields of the chosen
 * sampler's own options (built from its SamplerInfo.options, starting at the model's scheduler-config defaults),
 * and reading them back, checked against each option's type and range before a run.
 */
import { UserError } from './downloads.js';

/* The samplers' names for people (the ids stay the option values; plugins show their id). */
export const SAMPLER_NAMES = {
  ddpm: 'DDPM (ancestral, the paper)', ddim: 'DDIM', plms: 'PNDM / PLMS', dpmpp_2m: 'DPM-Solver++ 2M',
  euler: 'Euler', euler_a: 'Euler ancestral', heun: 'Heun', lms: 'LMS', dpm2_a: 'DPM2 ancestral', unipc: 'UniPC',
  dpmpp_2m_sde: 'DPM-Solver++ 2M SDE', dpmpp_3m_sde: 'DPM-Solver++ 3M SDE',
};

/** The label of a sampler in the list: its human name (plugins: their id). */
export function samplerLabel(s) {
  return s.kind === 'js' ? `${s.name} (plugin)` : SAMPLER_NAMES[s.name] ?? s.name;
}

/** Fills `container` with the fields of sampler `info`'s options and `helpEl` with its description; config: the
 * model's config (its defaults.samplerOptions start the fields) or null. */
export function renderSamplerOptions(container, helpEl, info, config) {
  container.replaceChildren();
  if (!info) { helpEl.textContent = ''; return; }
  helpEl.textContent = info.description +
    (info.evalsPerStep > 1 && !/evaluations per step/.test(info.description)
      ? ` (${info.evalsPerStep} model evaluations per step)` : '') +
    (config && config.format === 'diffusers' && info.options.length
      ? ". The options start at what the model's scheduler_config.json implies." : '');
  const own = (config && config.defaults && config.defaults.samplerOptions) || {};
  for (const o of info.options) {
    /* the model's default where its scheduler config sets one (clip_x0, clip_range, set_alpha_to_one, ...) */
    const m = own[o.name];
    const opt = m === undefined ? o
      : { ...o, default: o.type === 'bool' ? m !== 0 : o.type === 'choice' ? (o.choices || [])[m] ?? o.default : m };
    const id = `opt-${info.name}-${opt.name}`;
    const field = document.createElement('div');
    field.className = opt.type === 'bool' ? 'field check' : 'field';
    const label = document.createElement('label');
    label.htmlFor = id;
    label.textContent = opt.name.replace(/_/g, ' ');
    let input;
    if (opt.type === 'bool') {
      input = document.createElement('input');
      input.type = 'checkbox';
      input.checked = Boolean(opt.default);
    } else if (opt.type === 'choice') {
      input = document.createElement('select');
      for (const c of opt.choices || []) input.append(new Option(c, c));
      input.value = String(opt.default);
    } else {
      input = document.createElement('input');
      input.type = 'number';
      input.inputMode = opt.type === 'int' ? 'numeric' : 'decimal';
      input.step = opt.type === 'int' ? '1' : 'any';
      if (opt.min != null && Number.isFinite(opt.min)) input.min = String(opt.min);
      if (opt.max != null && Number.isFinite(opt.max)) input.max = String(opt.max);
      input.value = String(opt.default);
    }
    input.id = id;
    input.dataset.default = String(opt.default);
    input.dataset.option = opt.name;
    input.dataset.type = opt.type;
    if (opt.help) {
      const help = document.createElement('p');
      help.className = 'help';
      help.id = id + '-help';
      help.textContent = opt.help;
      input.setAttribute('aria-describedby', help.id);
      if (opt.type === 'bool') field.append(input, label, help);
      else field.append(label, input, help);
    } else if (opt.type === 'bool') field.append(input, label);
    else field.append(label, input);
    container.append(field);
  }
}

/** The option values of the fields, each checked against its type and range (the field is focused when not). */
export function readSamplerOptions(container) {
  const out = {};
  for (const input of container.querySelectorAll('[data-option]')) {
    const t = input.dataset.type, name = input.dataset.option;
    if (t === 'bool') out[name] = input.checked;
    else if (t === 'choice') out[name] = input.value;
    else {
      const v = Number(input.value);
      const lo = input.min === '' ? -Infinity : Number(input.min), hi = input.max === '' ? Infinity : Number(input.max);
      const whole = t === 'int';
      if (input.value.trim() === '' || !Number.isFinite(v) || v < lo || v > hi || (whole && !Number.isInteger(v))) {
        input.focus();
        const range = Number.isFinite(lo) && Number.isFinite(hi) ? ` from ${lo} to ${hi}` : '';
        throw new UserError('Check the sampler options.',
          `"${name.replace(/_/g, ' ')}" must be ${whole ? 'a whole number' : 'a number'}${range}.`, input);
      }
      out[name] = v;
    }
  }
  return out;
}
