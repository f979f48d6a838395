import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classifyServerError, nativeModelsUrl } from '../../src/providers/chatClient';
import { serverText } from '../../src/providers/serverText';
import { describeProviderError, isRetryable, ProviderError, type ProviderErrorOptions, type ProviderErrorReason } from '../../src/providers/errors';

const url = 'http://127.0.0.1:1234/v1';

function error(reason: ProviderErrorReason, options: Partial<ProviderErrorOptions> = {}): ProviderError {
  return new ProviderError(reason, `test ${reason}`, { baseUrl: url, providerLabel: 'LM Studio', ...options });
}

describe('describeProviderError', () => {
  test('server down names the URL and says how to start LM Studio or change the setting', () => {
    assert.equal(
      describeProviderError(error('serverDown')),
      'LM Studio is not running at http://127.0.0.1:1234/v1 — start its local server (Developer tab → Start Server, or `lms server start`), or change persona.chat.baseUrl.',
    );
  });

  test('a connection dropped mid-reply is not described as a server that is not running', () => {
    const text = describeProviderError(error('serverDown', { midStream: true }));
    assert.match(text, /middle of the reply/);
    assert.doesNotMatch(text, /not running/);
  });

  test('no model loaded says how to load one', () => {
    assert.equal(describeProviderError(error('noModelLoaded')), 'No model is loaded in LM Studio — load one in LM Studio or with `lms load <model>`.');
  });

  test('model not found names the model and the setting', () => {
    const text = describeProviderError(error('modelNotFound', { model: 'qwen3-coder-30b' }));
    assert.match(text, /“qwen3-coder-30b”/);
    assert.match(text, /persona\.chat\.model/);
  });

  test('context overflow suggests a new chat or a larger context, and quotes the server', () => {
    const text = describeProviderError(error('contextOverflow', { detail: 'Trying to keep the first 5000 tokens when context the overflows.' }));
    assert.match(text, /new chat/i);
    assert.match(text, /larger context/i);
    assert.match(text, /Trying to keep the first 5000 tokens/);
  });

  test('401 from the cloud endpoint points at the Set API Key command', () => {
    const text = describeProviderError(error('unauthorized', { status: 401, providerLabel: 'The cloud endpoint' }));
    assert.match(text, /^The cloud endpoint refused the API key \(HTTP 401\)/);
    assert.match(text, /Persona: Set API Key/);
  });

  test('the label passed in wins over the one the error carries, and reads well mid-sentence', () => {
    const text = describeProviderError(error('timeout'), { providerLabel: 'The cloud endpoint' });
    assert.match(text, /^The cloud endpoint at http:\/\/127\.0\.0\.1:1234\/v1 did not answer in time/);
    assert.match(describeProviderError(error('badResponse', { providerLabel: 'The cloud endpoint' })), /^The cloud endpoint at .* sent a reply Persona could not read/);
  });

  test('busy, empty reply, timeout: each says what to do', () => {
    assert.match(describeProviderError(error('busy', { status: 503 })), /busy .*try again/);
    assert.match(describeProviderError(error('busy', { status: 429 })), /rate-limited/);
    assert.match(describeProviderError(error('emptyReply')), /empty reply/);
    assert.match(describeProviderError(error('timeout')), /persona\.chat\.requestTimeoutSeconds/);
  });

  test('a refused parameter names the setting to change', () => {
    const text = describeProviderError(error('badParameter', { status: 400, detail: 'Unrecognized request argument supplied: top_k' }));
    assert.match(text, /refused the value of top_k/);
    assert.match(text, /Top K in the view's Chat settings/);
  });

  test('every reason has a description', () => {
    const reasons: ProviderErrorReason[] = ['serverDown', 'noModelLoaded', 'modelNotFound', 'multipleModels', 'contextOverflow', 'emptyReply', 'unauthorized', 'busy', 'timeout', 'aborted', 'badResponse', 'badParameter', 'http'];
    for (const reason of reasons) assert.ok(describeProviderError(error(reason)).length > 5, reason);
  });

  test('something that is not a ProviderError is still described', () => {
    assert.match(describeProviderError(new Error('boom')), /boom/);
  });
});

describe('ProviderError.is and isRetryable', () => {
  test('is() checks the type and, optionally, the reason', () => {
    assert.equal(ProviderError.is(error('busy')), true);
    assert.equal(ProviderError.is(error('busy'), 'busy'), true);
    assert.equal(ProviderError.is(error('busy'), 'timeout'), false);
    assert.equal(ProviderError.is(new Error('busy')), false);
    assert.equal(ProviderError.is(undefined), false);
  });

  test('retryable: transient failures only', () => {
    assert.equal(isRetryable(error('busy')), true);
    assert.equal(isRetryable(error('timeout')), true);
    assert.equal(isRetryable(error('emptyReply')), true);
    assert.equal(isRetryable(error('serverDown', { midStream: true })), true);
    assert.equal(isRetryable(error('http', { status: 500 })), true);
    assert.equal(isRetryable(error('serverDown')), false);
    assert.equal(isRetryable(error('aborted')), false);
    assert.equal(isRetryable(error('contextOverflow')), false);
    assert.equal(isRetryable(error('unauthorized')), false);
    assert.equal(isRetryable(error('http', { status: 400 })), false);
    assert.equal(isRetryable(new Error('x')), false);
  });
});

describe('reading server error bodies', () => {
  test('serverText reads every body shape local servers use', () => {
    assert.equal(serverText({ error: 'No models loaded.' }), 'No models loaded.');
    assert.equal(serverText({ error: { message: 'Incorrect API key provided', code: 'invalid_api_key' } }), 'Incorrect API key provided');
    assert.equal(serverText({ detail: { msg: 'Server is busy; please try again later.', type: 'service_unavailable' } }), 'Server is busy; please try again later.');
    assert.equal(serverText({ message: 'plain message' }), 'plain message');
    assert.equal(serverText('plain text body'), 'plain text body');
    assert.equal(serverText(undefined), '');
  });

  const cases: Array<[number | undefined, unknown, ProviderErrorReason]> = [
    [404, { error: "No models loaded. Please load a model in the developer page or use the 'lms load' command." }, 'noModelLoaded'],
    [400, { error: "No models loaded. Please load a model in the developer page or use the 'lms load' command." }, 'noModelLoaded'],
    [400, { error: { message: 'Invalid model identifier "o4-mini". Please specify a valid downloaded model.', type: 'invalid_request_error', param: 'model', code: 'model_not_found' } }, 'modelNotFound'],
    [404, { error: { message: 'Model "default" not found. Please specify a valid model.', code: 'model_not_found' } }, 'modelNotFound'],
    [400, { error: "Multiple models are loaded. Please specify a model by providing a 'model' field in the request." }, 'multipleModels'],
    [400, { error: 'Trying to keep the first 6153 tokens when context the overflows. However, the model is loaded with context length of only 4096 tokens' }, 'contextOverflow'],
    [200, 'Trying to keep the first 6153 tokens when context the overflows.', 'contextOverflow'],
    [400, { error: { message: "This model's maximum context length is 8192 tokens.", code: 'context_length_exceeded' } }, 'contextOverflow'],
    [401, { error: { message: 'Incorrect API key provided', code: 'invalid_api_key' } }, 'unauthorized'],
    [403, 'Forbidden', 'unauthorized'],
    [503, { detail: { msg: 'Server is busy; please try again later.', type: 'service_unavailable' } }, 'busy'],
    [429, { error: { message: 'Rate limit reached' } }, 'busy'],
    [500, { error: 'Something exploded' }, 'http'],
    // OpenAI's answer to a field it does not take, and a range check naming the field.
    [400, { error: { message: 'Unrecognized request argument supplied: top_k', type: 'invalid_request_error', param: null, code: null } }, 'badParameter'],
    [400, { error: { message: "Invalid 'stop': array too long. Expected an array with maximum length 4.", param: 'stop' } }, 'badParameter'],
    [422, { detail: [{ loc: ['body', 'temperature'], msg: 'Input should be less than or equal to 2' }] }, 'badParameter'],
    [400, { error: 'Please stop sending requests this fast.' }, 'http'],
  ];
  for (const [status, body, reason] of cases) {
    test(`HTTP ${status} ${JSON.stringify(body).slice(0, 60)} → ${reason}`, () => {
      assert.equal(classifyServerError(status, body), reason);
    });
  }
});

describe('nativeModelsUrl', () => {
  test('replaces a trailing /v1 with /api/v0/models', () => {
    assert.equal(nativeModelsUrl('http://127.0.0.1:1234/v1'), 'http://127.0.0.1:1234/api/v0/models');
    assert.equal(nativeModelsUrl('http://127.0.0.1:1234/v1/'), 'http://127.0.0.1:1234/api/v0/models');
    assert.equal(nativeModelsUrl('http://host:8080/lmstudio/v1'), 'http://host:8080/lmstudio/api/v0/models');
  });

  test('no /v1 at the end: no native URL', () => {
    assert.equal(nativeModelsUrl('http://127.0.0.1:1234'), undefined);
    assert.equal(nativeModelsUrl('http://127.0.0.1:1234/openai'), undefined);
  });
});
