// The order of the levels, lowest first: built-in default < your settings < the persona < this chat.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { overridesInEffect, requestSampling, resolveSettings } from '../../src/chat/effectiveSettings';
import { checkNumberInput, checkStopInput, DEFAULT_MAX_TOKENS, numberSetting, SamplingSchema } from '../../src/shared/sampling';

describe('chat settings in three levels', () => {
  it('each level wins over the ones below it, and says where the value comes from', () => {
    const e = resolveSettings({
      settings: { temperature: 0.2, topP: 0.5, topK: 20, model: 'from-settings' },
      persona: { temperature: 0.7, topP: 0.9 },
      chat: { temperature: 1.3 },
    });
    assert.deepEqual(e.temperature, { value: 1.3, origin: 'chat', below: { value: 0.7, origin: 'persona' } });
    assert.deepEqual(e.topP, { value: 0.9, origin: 'persona' });
    assert.deepEqual(e.topK, { value: 20, origin: 'settings' });
    assert.deepEqual(e.model, { value: 'from-settings', origin: 'settings' });
    assert.deepEqual(e.maxTokens, { value: DEFAULT_MAX_TOKENS, origin: 'default' });
    // Nothing sets it: not sent, the server decides.
    assert.deepEqual(e.minP, { origin: 'default' });
  });

  it('a chat override over nothing remembers that Reset goes back to the default', () => {
    const e = resolveSettings({ settings: {}, persona: {}, chat: { seed: 7, maxTokens: 50 } });
    assert.deepEqual(e.seed, { value: 7, origin: 'chat', below: { origin: 'default' } });
    assert.deepEqual(e.maxTokens, { value: 50, origin: 'chat', below: { value: DEFAULT_MAX_TOKENS, origin: 'default' } });
  });

  it('an empty stop list in settings is "not set"; a chat may clear the persona\'s list on purpose', () => {
    assert.deepEqual(resolveSettings({ settings: { stop: [] }, persona: { stop: ['END'] }, chat: undefined }).stop, { value: ['END'], origin: 'persona' });
    assert.deepEqual(resolveSettings({ settings: { stop: [] }, persona: {}, chat: undefined }).stop, { origin: 'default' });
    const cleared = resolveSettings({ settings: {}, persona: { stop: ['END'] }, chat: { stop: [] } });
    assert.deepEqual(cleared.stop.value, []);
    assert.equal(requestSampling(cleared, true).stop, undefined, 'an empty list is not sent');
  });

  it('the request carries exactly the values in effect; top K, min P and repeat penalty only to the local server', () => {
    const e = resolveSettings({ settings: { repeatPenalty: 1.1 }, persona: { temperature: 0.7, minP: 0.05 }, chat: { topK: 40, stop: ['\nUser:'] } });
    assert.deepEqual(requestSampling(e, true), { temperature: 0.7, topK: 40, minP: 0.05, maxTokens: DEFAULT_MAX_TOKENS, repeatPenalty: 1.1, stop: ['\nUser:'] });
    assert.deepEqual(requestSampling(e, false), { temperature: 0.7, maxTokens: DEFAULT_MAX_TOKENS, stop: ['\nUser:'] });
  });

  it("a reply records only the chat's overrides that change something", () => {
    const e = resolveSettings({ settings: {}, persona: { temperature: 0.7 }, chat: { temperature: 0.7, topP: 0.8, model: 'other' } });
    assert.deepEqual(overridesInEffect(e), { topP: 0.8, model: 'other' });
  });
});

describe('values are checked where they are entered', () => {
  it('a temperature of 7 or "abc" is refused with the allowed range', () => {
    const t = numberSetting('temperature');
    assert.deepEqual(checkNumberInput(t, '7'), { ok: false, message: 'Temperature must be a number from 0 to 2.' });
    assert.deepEqual(checkNumberInput(t, 'abc'), { ok: false, message: 'Temperature must be a number from 0 to 2.' });
    assert.deepEqual(checkNumberInput(t, ' 1.25 '), { ok: true, value: 1.25 });
    assert.equal(checkNumberInput(numberSetting('topP'), '0').ok, false, 'top P of 0 samples nothing');
    assert.equal(checkNumberInput(numberSetting('maxTokens'), '12.5').ok, false);
    assert.match((checkNumberInput(numberSetting('maxTokens'), '12.5') as { message: string }).message, /whole number/);
    assert.equal(checkNumberInput(numberSetting('presencePenalty'), '-2').ok, true);
  });

  it('stop sequences: one per line, at most four', () => {
    assert.deepEqual(checkStopInput('END\n\n###'), { ok: true, value: ['END', '###'] });
    assert.equal(checkStopInput('a\nb\nc\nd\ne').ok, false);
  });

  it('the stored schema refuses what the controls refuse', () => {
    assert.equal(SamplingSchema.safeParse({ temperature: 7 }).success, false);
    assert.equal(SamplingSchema.safeParse({ topK: 1.5 }).success, false);
    assert.equal(SamplingSchema.safeParse({ model: '' }).success, false);
    assert.equal(SamplingSchema.safeParse({ stop: ['a', 'b', 'c', 'd', 'e'] }).success, false);
    assert.equal(SamplingSchema.safeParse({ temperature: 0.7, topK: 40, seed: 1, stop: ['x'], model: 'm' }).success, true);
  });
});
