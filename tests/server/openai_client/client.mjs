// The official `openai` npm client, unchanged, against a running `dsv4 serve`.
// usage: node client.mjs BASE_URL API_KEY   (BASE_URL like http://127.0.0.1:8080/v1)
// Prints "ok <check>" per check; exits 1 at the first failure.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const [baseURL, apiKey] = process.argv.slice(2);
if (!baseURL || !apiKey) {
  console.error('usage: node client.mjs BASE_URL API_KEY');
  process.exit(2);
}
// No retries: a 429 or 5xx must show up here, not be hidden by the client's backoff.
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120_000 });
const request = {
  model: 'dsv4',
  messages: [{ role: 'user', content: 'Hello from the openai package' }],
  max_tokens: 5,
  temperature: 0,
};

async function models() {
  const list = await client.models.list();
  assert.equal(list.data[0].id, 'dsv4');
}

async function chat() {
  const r = await client.chat.completions.create(request);
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 5);
  return r.choices[0].message.content;
}

async function stream(expected) {
  const s = await client.chat.completions.create({
    ...request, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const chunk of s) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta.content ?? '';
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(text, expected);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 5);
}

// DeepSeek's own field: thinking toggled by an extra body field, reasoning_content in the deltas.
async function reasoningStream() {
  const s = await client.chat.completions.create({
    ...request, stream: true, thinking: { type: 'enabled' },
  });
  let reasoning = '';
  for await (const chunk of s) reasoning += chunk.choices[0]?.delta?.reasoning_content ?? '';
  assert.ok(reasoning.length > 0, 'no reasoning_content deltas');
}

async function expectError(cls, status, call) {
  try {
    await call();
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, status);
    return e;
  }
  assert.fail(`expected ${cls.name}`);
}

async function errors() {
  await expectError(OpenAI.NotFoundError, 404,
                    () => client.chat.completions.create({ ...request, model: 'gpt-4o' }));
  const e = await expectError(OpenAI.BadRequestError, 400,
                              () => client.chat.completions.create({ ...request, max_tokens: 100000 }));
  assert.equal(e.code, 'context_length_exceeded');
  const anonymous = new OpenAI({ baseURL, apiKey: 'wrong-key', maxRetries: 0 });
  await expectError(OpenAI.AuthenticationError, 401,
                    () => anonymous.chat.completions.create(request));
}

try {
  await models();
  console.log('ok models');
  const text = await chat();
  console.log('ok chat');
  await stream(text);
  console.log('ok stream');
  await reasoningStream();
  console.log('ok reasoning stream');
  await errors();
  console.log('ok errors');
} catch (e) {
  console.error('FAILED:', e?.stack ?? e);
  process.exit(1);
}
