// The official OpenAI Node.js SDK against `youzhi serve` (run by run_sdk_test.sh): completions
// and chat, JSON and streamed, usage, logprobs, stop strings, models, and errors surfacing as
// the SDK's typed errors. Usage: node sdk_test.mjs BASE_URL MODEL API_KEY
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const [baseURL, model, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey, maxRetries: 0, timeout: 60_000 });
let passed = 0;
async function test(name, fn) {
  await fn();
  passed += 1;
  console.log(`ok ${name}`);
}

await test('models.list', async () => {
  const models = await client.models.list();
  assert.equal(models.data[0].id, model);
  assert.equal((await client.models.retrieve(model)).id, model);
});

// Usage of two runs of one request: the same counts; the second may reuse the first's prompt
// blocks (prefix caching), so only its cached_tokens may differ.
function sameCounts(usage, first) {
  for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens']) assert.equal(usage[k], first[k], k);
  assert.ok(usage.prompt_tokens_details.cached_tokens <= usage.prompt_tokens);
}

let greedy;
await test('completions (JSON)', async () => {
  greedy = await client.completions.create({ model, prompt: 'The Federal Reserve raised', max_tokens: 12, temperature: 0 });
  assert.equal(greedy.object, 'text_completion');
  assert.equal(typeof greedy.choices[0].text, 'string');
  assert.ok(['length', 'stop'].includes(greedy.choices[0].finish_reason));
  assert.equal(greedy.usage.total_tokens, greedy.usage.prompt_tokens + greedy.usage.completion_tokens);
  assert.ok(greedy.usage.completion_tokens <= 12 && greedy.usage.prompt_tokens > 0);
});

await test('completions (stream, include_usage) equal the JSON answer', async () => {
  const stream = await client.completions.create({
    model, prompt: 'The Federal Reserve raised', max_tokens: 12, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  });
  let text = '', usage = null, finish = null, chunks = 0;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) { text += c.text; finish = c.finish_reason ?? finish; chunks += 1; }
  }
  assert.equal(text, greedy.choices[0].text);
  assert.equal(finish, greedy.choices[0].finish_reason);
  sameCounts(usage, greedy.usage);
  assert.equal(chunks, greedy.usage.completion_tokens);  // one chunk per token
});

await test('completions logprobs and stop strings', async () => {
  const r = await client.completions.create({ model, prompt: 'Net income rose', max_tokens: 8, temperature: 0, logprobs: 3 });
  const lp = r.choices[0].logprobs;
  assert.equal(lp.tokens.length, r.usage.completion_tokens);
  assert.equal(lp.token_logprobs.length, lp.tokens.length);
  assert.ok(lp.token_logprobs.every((x) => x <= 0));
  assert.ok(Object.keys(lp.top_logprobs[0]).length >= 3);
  const words = greedy.choices[0].text.trim().split(' ');
  const stop = ' ' + words[Math.min(2, words.length - 1)];
  const s = await client.completions.create({ model, prompt: 'The Federal Reserve raised', max_tokens: 12, temperature: 0, stop: [stop] });
  assert.equal(s.choices[0].finish_reason, 'stop');
  assert.equal(s.choices[0].text, greedy.choices[0].text.slice(0, greedy.choices[0].text.indexOf(stop)));
});

await test('seeded sampling is reproducible', async () => {
  const ask = () => client.completions.create({ model, prompt: 'Markets', max_tokens: 10, temperature: 0.9, top_p: 0.95, seed: 1234 });
  assert.equal((await ask()).choices[0].text, (await ask()).choices[0].text);
});

await test('chat (JSON and stream)', async () => {
  const messages = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'What are bonds?' }];
  const r = await client.chat.completions.create({ model, messages, max_completion_tokens: 10, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  const stream = await client.chat.completions.create({
    model, messages, max_tokens: 10, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = '', role = null, usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) { role = role ?? c.delta.role; text += c.delta.content ?? ''; }
  }
  assert.equal(role, 'assistant');
  assert.equal(text, r.choices[0].message.content);
  sameCounts(usage, r.usage);
  const helper = await client.chat.completions.stream({ model, messages, max_tokens: 10, temperature: 0 });
  const done = await helper.finalChatCompletion();
  assert.equal(done.choices[0].message.content, r.choices[0].message.content);
});

async function rejects(promise, type, status, check = () => {}) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof type, `${e.constructor.name} is not ${type.name}: ${e.message}`);
    assert.equal(e.status, status);
    check(e);
    return;
  }
  assert.fail(`no ${type.name}`);
}

await test('errors are typed', async () => {
  await rejects(client.completions.create({ model, prompt: 'x', temperature: 5 }), OpenAI.BadRequestError, 400,
    (e) => assert.equal(e.param, 'temperature'));
  await rejects(client.completions.create({ model, prompt: 'x', frobnicate: 1 }), OpenAI.BadRequestError, 400,
    (e) => assert.match(e.message, /Unrecognized request argument supplied: frobnicate/));
  await rejects(client.chat.completions.create({ model, messages: [] }), OpenAI.BadRequestError, 400);
  await rejects(client.completions.create({ model, prompt: 'word '.repeat(5000), max_tokens: 4 }),
    OpenAI.BadRequestError, 400, (e) => assert.equal(e.code, 'context_length_exceeded'));
  await rejects(client.completions.create({ model: 'gpt-4o', prompt: 'x' }), OpenAI.NotFoundError, 404,
    (e) => assert.equal(e.code, 'model_not_found'));
  const wrongKey = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
  await rejects(wrongKey.models.list(), OpenAI.AuthenticationError, 401);
  await rejects(wrongKey.completions.create({ model, prompt: 'x', stream: true }), OpenAI.AuthenticationError, 401);
});

console.log(`${passed} SDK tests passed`);
