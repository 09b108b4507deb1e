import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  canonicalProductKind,
  cashEquivalentNames,
  hasProductKind,
  isCashEquivalent,
  knownProductKinds,
} from './product-kinds.ts';

describe('canonicalProductKind', () => {
  test('one spelling per kind: case, spaces, dashes, dots and underscores do not matter', () => {
    for (const written of [
      'gift_card',
      'GIFT_CARD',
      'Gift-Card',
      'gift card',
      '  Gift   Card ',
      'gift.card',
      'gift__card',
      'gift - card',
      '_gift_card_',
      'GIFT\tCARD',
      'ＧＩＦＴ＿ＣＡＲＤ', // full-width, as typed with a Chinese input method
      'gift\u3000card', // ideographic space
      'gift\u2013card', // en dash
      'gift_\u200bcard\u200b', // zero-width spaces, invisible when pasted
    ]) {
      assert.equal(canonicalProductKind(written), 'gift_card', JSON.stringify(written));
    }
    assert.equal(canonicalProductKind('Mobile Top Up'), 'mobile_top_up');
    assert.equal(canonicalProductKind('Merchandise'), 'merchandise');
  });

  test('keeps what is not a separator, and words apart that were written apart', () => {
    assert.equal(canonicalProductKind('giftcard'), 'giftcard');
    assert.equal(canonicalProductKind('3C/Digital'), '3c_digital', 'a slash separates words too');
    assert.equal(canonicalProductKind('Top-Up/Recharge'), 'top_up_recharge');
    assert.equal(canonicalProductKind('gift·card, prepaid'), 'gift_card_prepaid');
    assert.equal(canonicalProductKind('话费充值'), '话费充值');
    assert.equal(canonicalProductKind('Cafe\u0301'), 'café', 'composed and decomposed are one');
    assert.equal(canonicalProductKind('Cafe\u200b\u0301'), 'café', 'an invisible character goes before NFKC');
  });

  test('nothing but separators is empty (the edge refuses it)', () => {
    for (const written of ['', ' ', '-', '_', '...', ' - _ . ', '\u200b', '\u3000']) {
      assert.equal(canonicalProductKind(written), '', JSON.stringify(written));
    }
  });

  test('is idempotent and leaves no upper case, no doubled or outer _ and no whitespace', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (written) => {
        const kind = canonicalProductKind(written);
        assert.equal(canonicalProductKind(kind), kind);
        assert.equal(kind, kind.toLowerCase());
        assert.doesNotMatch(kind, /__|^_|_$|\s/u);
      }),
      { seed: 20_260_101, numRuns: 2000 },
    );
  });

  test('the known kinds are canonical already', () => {
    for (const k of knownProductKinds) assert.equal(canonicalProductKind(k), k);
    for (const k of cashEquivalentNames) assert.equal(canonicalProductKind(k), k);
  });
});

describe('isCashEquivalent', () => {
  test('recognises cash equivalents however they are written', () => {
    for (const kind of [
      'phone_top_up',
      'PHONE-TOP-UP',
      'gift_card',
      'GIFT_CARD',
      'Gift-Card',
      'gift card',
      'giftcard',
      'GiftCards',
      'e_gift_card',
      'eGift',
      'steam_gift_card',
      'gift_card_100',
      'gift_certificate',
      'gift_voucher',
      'prepaid_card',
      'prepaid',
      'cash_voucher',
      'cash',
      'stored_value',
      'store_credit',
      'Mobile Top Up',
      'mobile_top_up',
      'top_up',
      'topup',
      'top-ups',
      'mobile_recharge',
      'phone_recharge',
      'airtime',
      'phone_credit',
      'mobile_credit',
      // Words written apart or together, and other separators.
      'Pre-Paid Card',
      'E-Gift',
      'e_gifts',
      'Top-Up/Recharge',
      'gift/card',
      'gift·card',
      'gift-card,prepaid',
      'Recharges',
      // Scripts without spaces between words.
      '话费充值',
      '手机话费',
      '礼品卡',
      '超市购物卡',
      '游戏点卡',
    ]) {
      assert.equal(isCashEquivalent(kind), true, kind);
    }
  });

  test('recognises cash equivalents spelled with look-alike letters of other scripts or with accents', () => {
    for (const kind of [
      'phone_t\u043ep_up', // Cyrillic о
      'gift_c\u0430rd', // Cyrillic а
      '\u0440repaid_card', // Cyrillic р
      '\u0441ash_voucher', // Cyrillic с
      '\u0442\u043e\u0440_u\u0440', // Cyrillic т, о, р and р
      'st\u03bfre_credit', // Greek ο
      'gift_\u0441\u0430rd', // two Cyrillic letters
      'ɑirtime', // Latin alpha
      't\u00f3p_\u00fap', // accents
      'to\u0301p_up', // a combining accent
    ]) {
      assert.equal(isCashEquivalent(kind), true, kind);
    }
    // Words of other scripts that are not look-alikes of a listed name stay ordinary.
    for (const kind of ['\u043a\u043d\u0438\u0433\u0438', 'caf\u00e9', '\u03b2\u03b9\u03b2\u03bb\u03af\u03b1']) {
      assert.equal(isCashEquivalent(kind), false, kind);
    }
  });

  test('leaves ordinary kinds alone, including words that merely contain a listed one', () => {
    for (const kind of [
      'merchandise',
      'virtual',
      'food',
      'travel',
      'services',
      'cashmere',
      'cashew_nuts',
      'gift_wrap',
      'gift_box',
      'credit_card_holder',
      'laptop_upgrade',
      'voucher_printing',
      'pre_owned_phone',
      'gift_wrapping_paper',
      '礼品包装',
      '',
    ]) {
      assert.equal(isCashEquivalent(kind), false, kind);
    }
  });
});
describe('hasProductKind', () => {
  test('compares canonical forms on both sides, so kinds stored before canonical spelling still match', () => {
    assert.equal(hasProductKind(['merchandise'], 'Merchandise'), true);
    assert.equal(hasProductKind(['Merchandise', 'Virtual'], 'merchandise'), true);
    assert.equal(hasProductKind(['GIFT-CARD'], 'gift_card'), true);
    assert.equal(hasProductKind(['merchandise'], 'virtual'), false);
    assert.equal(hasProductKind(['merchandise'], 'merchandises'), false);
    assert.equal(hasProductKind(['giftcard'], 'gift_card'), false, 'only spelling is folded, not words');
  });

  test('an empty kind matches nothing, not even an empty one stored before', () => {
    assert.equal(hasProductKind(['-'], ' '), false);
    assert.equal(hasProductKind(['merchandise'], ''), false);
  });
});
