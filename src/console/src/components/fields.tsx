import type { ComponentChildren } from 'preact';

export interface TextFieldProps {
  id: string;
  label: string;
  value: string;
  onInput: (value: string) => void;
  hint?: ComponentChildren;
  /** The message when the server or the form names this field as wrong. */
  problem?: string | null;
  type?: 'text' | 'datetime-local';
  required?: boolean;
  inputMode?: 'numeric' | 'decimal' | 'text';
  maxLength?: number;
}

/** A labelled input whose hint and problem are read out with it (aria-describedby). */
export function TextField(p: TextFieldProps) {
  const described = [p.hint ? `${p.id}-hint` : null, p.problem ? `${p.id}-problem` : null].filter(Boolean).join(' ');
  const common = {
    id: p.id,
    name: p.id,
    inputMode: p.inputMode,
    required: p.required,
    maxLength: p.maxLength,
    value: p.value,
    'aria-invalid': p.problem ? ('true' as const) : undefined,
    'aria-describedby': described || undefined,
    onInput: (e: Event) => p.onInput((e.currentTarget as HTMLInputElement).value),
  };
  return (
    <div class={`field${p.problem ? ' invalid' : ''}`}>
      <label for={p.id}>
        {p.label}
        {p.required ? <span aria-hidden="true"> *</span> : null}
      </label>
      {p.type === 'datetime-local' ? <input type="datetime-local" {...common} /> : <input type="text" {...common} />}
      {p.hint ? (
        <small id={`${p.id}-hint`} class="hint">
          {p.hint}
        </small>
      ) : null}
      {p.problem ? (
        <small id={`${p.id}-problem`} class="problem">
          {p.problem}
        </small>
      ) : null}
    </div>
  );
}

export function SelectField(p: {
  id: string;
  label: string;
  value: string;
  options: readonly (readonly [string, string])[];
  onChange: (value: string) => void;
}) {
  return (
    <div class="field">
      <label for={p.id}>{p.label}</label>
      <select id={p.id} name={p.id} value={p.value} onChange={(e) => p.onChange(e.currentTarget.value)}>
        {p.options.map(([value, text]) => (
          <option key={value} value={value}>
            {text}
          </option>
        ))}
      </select>
    </div>
  );
}

export function Fieldset({ legend, children }: { legend: string; children: ComponentChildren }) {
  return (
    <fieldset>
      <legend>{legend}</legend>
      {children}
    </fieldset>
  );
}
