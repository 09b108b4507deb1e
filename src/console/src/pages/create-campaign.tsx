import { useMemo, useState } from 'preact/hooks';
import { isCashEquivalent, knownProductKinds } from '../../../domain/product-kinds.ts';
import { messageOf, ok } from '../api.ts';
import { bodyOf, type FormState, initialForm } from '../campaign-form.ts';
import { DryRunPanel, useDryRun } from '../components/dry-run.tsx';
import { ErrorText } from '../components/error-text.tsx';
import { Fieldset, SelectField, TextField } from '../components/fields.tsx';
import { useApi } from '../context.ts';
import { money } from '../format.ts';
import { navigate } from '../router.ts';

const tiers_max = 10;

function minorHint(text: string, currency: string): string {
  // The example in the currency's own digits: 1000 minor units are 10.00 CNY but 1,000 JPY.
  return /^\d+$/.test(text.trim())
    ? `minor units: ${money(Number(text), currency)}`
    : `minor units (1000 = ${money(1000, currency)})`;
}

/** The create form: every change is linted and bounded by the server's dry run as you type. */
export function CreateCampaign() {
  const api = useApi();
  const defaults = useMemo(() => knownProductKinds.filter((k) => !isCashEquivalent(k)), []);
  const [form, setForm] = useState<FormState>(() => initialForm(Date.now(), [...defaults]));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = useDryRun(form);
  const set =
    <K extends keyof FormState>(key: K) =>
    (value: FormState[K]) =>
      setForm((f) => ({ ...f, [key]: value }));
  const problem = (param: string) => (run.state === 'problem' && run.param === param ? run.message : null);
  const cur = form.currency.length === 3 ? form.currency.toUpperCase() : 'CNY';

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (form.name.trim() === '') throw new Error('Give the campaign a name.');
      const created = await ok(api.POST('/v1/campaigns', { body: bodyOf(form) }));
      navigate(`/campaigns/${encodeURIComponent(created.id)}`);
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  };

  const toggleKind = (kind: string, on: boolean) =>
    setForm((f) => ({
      ...f,
      product_kinds: on ? [...f.product_kinds, kind] : f.product_kinds.filter((k) => k !== kind),
    }));
  const setTier = (i: number, key: 'min_spend_minor' | 'amount_minor', value: string) =>
    setForm((f) => ({ ...f, tiers: f.tiers.map((t, j) => (j === i ? { ...t, [key]: value } : t)) }));

  return (
    <>
      <h1 tabIndex={-1}>New campaign</h1>
      <div class="create-layout">
        <form class="campaign-form" onSubmit={submit} aria-label="New campaign" noValidate>
          <Fieldset legend="Basics">
            <TextField id="name" label="Name" required maxLength={256} value={form.name} onInput={set('name')} />
            <TextField
              id="currency"
              label="Currency"
              hint="ISO 4217, e.g. CNY"
              maxLength={3}
              value={form.currency}
              onInput={set('currency')}
              problem={problem('currency')}
            />
          </Fieldset>
          <Fieldset legend="Discount">
            <SelectField
              id="discount_type"
              label="Kind"
              value={form.discount_type}
              options={[
                ['fixed', 'Fixed amount'],
                ['percent', 'Percentage'],
                ['tiered', 'Tiered by spend'],
              ]}
              onChange={(v) => set('discount_type')(v as FormState['discount_type'])}
            />
            {form.discount_type === 'fixed' ? (
              <TextField
                id="amount_minor"
                label="Amount off"
                inputMode="numeric"
                hint={minorHint(form.amount_minor, cur)}
                value={form.amount_minor}
                onInput={set('amount_minor')}
                problem={problem('discount.amount_minor')}
              />
            ) : null}
            {form.discount_type === 'percent' ? (
              <>
                <TextField
                  id="percent"
                  label="Percent off"
                  inputMode="decimal"
                  hint="e.g. 15 or 12.5"
                  value={form.percent}
                  onInput={set('percent')}
                  problem={problem('discount.percent_bp')}
                />
                <TextField
                  id="max_discount_minor"
                  label="Cap per order (optional)"
                  inputMode="numeric"
                  hint={minorHint(form.max_discount_minor, cur)}
                  value={form.max_discount_minor}
                  onInput={set('max_discount_minor')}
                  problem={problem('discount.max_discount_minor')}
                />
              </>
            ) : null}
            {form.discount_type === 'tiered'
              ? form.tiers.map((t, i) => (
                  <div class="tier" key={i}>
                    <TextField
                      id={`tier-${i}-min`}
                      label={`Tier ${i + 1}: from spend`}
                      inputMode="numeric"
                      hint={minorHint(t.min_spend_minor, cur)}
                      value={t.min_spend_minor}
                      onInput={(v) => setTier(i, 'min_spend_minor', v)}
                      problem={problem(`discount.tiers[${i}].min_spend_minor`)}
                    />
                    <TextField
                      id={`tier-${i}-amount`}
                      label={`Tier ${i + 1}: amount off`}
                      inputMode="numeric"
                      hint={minorHint(t.amount_minor, cur)}
                      value={t.amount_minor}
                      onInput={(v) => setTier(i, 'amount_minor', v)}
                      problem={problem(`discount.tiers[${i}].amount_minor`)}
                    />
                    {form.tiers.length > 1 ? (
                      <button
                        type="button"
                        onClick={() => setForm((f) => ({ ...f, tiers: f.tiers.filter((_, j) => j !== i) }))}
                      >
                        Remove tier {i + 1}
                      </button>
                    ) : null}
                  </div>
                ))
              : null}
            {form.discount_type === 'tiered' && form.tiers.length < tiers_max ? (
              <button
                type="button"
                onClick={() =>
                  setForm((f) => ({ ...f, tiers: [...f.tiers, { min_spend_minor: '', amount_minor: '' }] }))
                }
              >
                Add a tier
              </button>
            ) : null}
            <TextField
              id="min_spend_minor"
              label="Minimum spend"
              inputMode="numeric"
              hint={minorHint(form.min_spend_minor, cur)}
              value={form.min_spend_minor}
              onInput={set('min_spend_minor')}
              problem={problem('min_spend_minor')}
            />
          </Fieldset>
          <Fieldset legend="What it buys and who gets it">
            <fieldset class="checks">
              <legend>Product kinds</legend>
              {knownProductKinds.map((kind) => (
                <label key={kind} class="check">
                  <input
                    type="checkbox"
                    name="product_kinds"
                    value={kind}
                    checked={form.product_kinds.includes(kind)}
                    onChange={(e) => toggleKind(kind, e.currentTarget.checked)}
                  />
                  {kind}
                  {isCashEquivalent(kind) ? ' (cash-equivalent)' : ''}
                </label>
              ))}
            </fieldset>
            <fieldset class="checks">
              <legend>Audience</legend>
              <label class="check">
                <input
                  type="radio"
                  name="audience"
                  value="public"
                  checked={form.audience === 'public'}
                  onChange={() => set('audience')('public')}
                />
                Anyone
              </label>
              <label class="check">
                <input
                  type="radio"
                  name="audience"
                  value="allowlist"
                  checked={form.audience === 'allowlist'}
                  onChange={() => set('audience')('allowlist')}
                />
                Only listed users
              </label>
            </fieldset>
            {form.audience === 'allowlist' ? (
              <div class="field">
                <label for="user_ids">User ids (one per line or comma-separated)</label>
                <textarea
                  id="user_ids"
                  rows={3}
                  value={form.user_ids}
                  onInput={(e) => set('user_ids')(e.currentTarget.value)}
                />
              </div>
            ) : null}
          </Fieldset>
          <Fieldset legend="When">
            <TextField
              id="starts_at"
              type="datetime-local"
              label="Starts (your local time)"
              value={form.starts_at}
              onInput={set('starts_at')}
              problem={problem('starts_at')}
            />
            <TextField
              id="ends_at"
              type="datetime-local"
              label="Ends (your local time)"
              value={form.ends_at}
              onInput={set('ends_at')}
              problem={problem('ends_at')}
            />
            <TextField
              id="coupon_ttl_s"
              label="Coupon lifetime in seconds (optional)"
              inputMode="numeric"
              value={form.coupon_ttl_s}
              onInput={set('coupon_ttl_s')}
              problem={problem('coupon_ttl_s')}
            />
          </Fieldset>
          <Fieldset legend="Money and limits">
            <TextField
              id="budget_minor"
              label="Budget"
              required
              inputMode="numeric"
              hint={minorHint(form.budget_minor, cur)}
              value={form.budget_minor}
              onInput={set('budget_minor')}
              problem={problem('budget_minor')}
            />
            <TextField
              id="max_redemptions"
              label="Max redemptions (optional)"
              inputMode="numeric"
              value={form.max_redemptions}
              onInput={set('max_redemptions')}
              problem={problem('max_redemptions')}
            />
            <TextField
              id="per_user_limit"
              label="Per user limit (optional)"
              inputMode="numeric"
              value={form.per_user_limit}
              onInput={set('per_user_limit')}
              problem={problem('per_user_limit')}
            />
            <TextField
              id="per_merchant_limit"
              label="Per merchant limit (optional)"
              inputMode="numeric"
              value={form.per_merchant_limit}
              onInput={set('per_merchant_limit')}
              problem={problem('per_merchant_limit')}
            />
            <label class="check">
              <input
                type="checkbox"
                checked={form.auto_pause}
                onChange={(e) => set('auto_pause')(e.currentTarget.checked)}
              />
              Let the anomaly detector pause this campaign
            </label>
          </Fieldset>
          <Fieldset legend="Codes">
            <SelectField
              id="code_mode"
              label="How users get coupons"
              value={form.code_mode}
              options={[
                ['claim', 'Users claim a coupon'],
                ['unique_codes', 'Unique codes'],
                ['shared_code', 'One shared code'],
              ]}
              onChange={(v) => set('code_mode')(v as FormState['code_mode'])}
            />
            {form.code_mode === 'shared_code' ? (
              <TextField
                id="code"
                label="Shared code"
                maxLength={256}
                value={form.code}
                onInput={set('code')}
                problem={problem('code')}
              />
            ) : null}
          </Fieldset>
          <ErrorText error={error} />
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create draft'}
          </button>
        </form>
        <DryRunPanel run={run} currency={cur} />
      </div>
    </>
  );
}
