// Named endpoints from settings: checked one by one, chosen by name, never a silent wrong server.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseServer, endpointKeyName, readEndpoints } from '../../src/chat/endpoints';

describe('named endpoints', () => {
  it('reads valid entries, trims the base URL, and says what is wrong with the others', () => {
    const { endpoints, problems } = readEndpoints([
      { name: 'Team vLLM', baseUrl: 'http://10.0.0.5:8000/v1/', extendedSampling: true },
      { name: 'OpenRouter', baseUrl: 'https://openrouter.ai/api/v1', model: 'qwen/qwen3-32b' },
      { name: 'no url' },
      { name: 'Bad', baseUrl: 'file:///etc/passwd' },
      { name: 'local', baseUrl: 'http://127.0.0.1:9/v1' },
      { name: 'team vllm', baseUrl: 'http://127.0.0.1:9/v1' },
      { name: '[x](command:workbench.action.quit)', baseUrl: 'http://127.0.0.1:9/v1' },
    ]);
    assert.deepEqual(endpoints, [
      { name: 'Team vLLM', baseUrl: 'http://10.0.0.5:8000/v1', extendedSampling: true },
      { name: 'OpenRouter', baseUrl: 'https://openrouter.ai/api/v1', model: 'qwen/qwen3-32b' },
    ]);
    assert.equal(problems.length, 5);
    assert.match(problems[2]!, /"local" .* already taken/);
    assert.deepEqual(readEndpoints(undefined), { endpoints: [], problems: [] });
    assert.equal(readEndpoints('nope').problems.length, 1);
  });

  it('persona.chat.provider picks local, cloud or an endpoint by name; an unknown name falls back to LM Studio, with a note', () => {
    const { endpoints } = readEndpoints([{ name: 'Team vLLM', baseUrl: 'http://10.0.0.5:8000/v1' }]);
    assert.deepEqual(chooseServer('local', endpoints), { provider: 'local' });
    assert.deepEqual(chooseServer('', endpoints), { provider: 'local' });
    assert.deepEqual(chooseServer('cloud', endpoints), { provider: 'cloud' });
    assert.equal(chooseServer('team vllm', endpoints).endpoint?.name, 'Team vLLM');
    const unknown = chooseServer('Gone', endpoints);
    assert.equal(unknown.provider, 'local');
    assert.match(unknown.problem!, /not one of persona.endpoints/);
  });

  it('each endpoint has its own key slot, whatever the case of its name', () => {
    assert.equal(endpointKeyName('Team vLLM'), endpointKeyName('team vllm'));
    assert.notEqual(endpointKeyName('Team vLLM'), 'cloud');
  });
});
