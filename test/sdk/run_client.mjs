// Drive the real npm SDKs against the gateway and print one normalized result per case.
//
// Input (JSON on stdin, or the first argv argument): one case or {"cases": [case, ...]}, where
//   case = {id?, sdk, baseURL, model, scenario, stream, apiKey?}
//   sdk      openai-chat | openai-responses | anthropic | anthropic-0 | genai
//   baseURL  the gateway root, e.g. http://127.0.0.1:8080 (each SDK's own suffix is added here)
//   scenario plain | tool | think | error (the upstream answers 400) | count (anthropic SDKs:
//            messages.countTokens; genai: models.countTokens; answered {input_tokens}) | embed (openai-chat:
//            embeddings.create; genai: models.embedContent; of EMBED_TEXTS, answered
//            {vectors, usage: {input}}) | complete (openai-chat: the legacy completions.create
//            of COMPLETE_PROMPT, answered {text, stop, usage})
//   apiKey   the client key (default API_KEY below)
//   stream   false: the plain create call; true: the SDK's own stream helper
// Output: one JSON line per case, in input order:
//   {id, text, thinking, tool_calls: [{name, arguments}], stop, usage: {input, output}}
//   or {id, error: "<what the SDK threw>", class: "<its class>", status?, message?, body?}
// All cases run concurrently (Promise.all); the exit status is 0 unless the input is unusable.

import Anthropic from '@anthropic-ai/sdk';
import Anthropic0 from 'anthropic-sdk-0';
import OpenAI from 'openai';
import { GoogleGenAI, Type } from '@google/genai';

const API_KEY = 'sk-sdk-test-client-key';
const TIMEOUT_MS = 20000;

const TOOL = {
  name: 'get_weather',
  description: 'Get the weather for a place',
  schema: {
    type: 'object',
    properties: { arg: { type: 'string', description: 'the place' } },
    required: ['arg'],
  },
};

// Must match test_sdk.py.
export const EMBED_TEXTS = ['The first text to embed', 'and a second one'];
export const COMPLETE_PROMPT = 'Complete this sentence';

// texttool: a Kiro upstream writes the call into its answer text ([mock:text-tool]); the
// gateway must hand it to the client as a tool call all the same.
export function promptFor(scenario) {
  if (scenario === 'tool') return 'What is the weather? [mock:tool]';
  if (scenario === 'texttool') return 'What is the weather? [mock:tool] [mock:text-tool]';
  if (scenario === 'think') return 'Think about it. [mock:think]';
  if (scenario === 'error') return 'Refuse this. [mock:status=400]';
  return 'Hello from the SDK test!';
}

function offersTools(scenario) {
  return scenario === 'tool' || scenario === 'texttool';
}

function parseArgs(value) {
  if (typeof value !== 'string') return value ?? null;
  try {
    return JSON.parse(value);
  } catch {
    return { __unparsable__: value };
  }
}

function num(v) {
  return typeof v === 'number' ? v : 0;
}

// ---- Anthropic Messages (1.x: Bearer + anthropic-version 2026-10-21; 0.x: x-api-key + 2023-06-01)

function anthropicParams(c) {
  const p = {
    model: c.model,
    max_tokens: 1024,
    messages: [{ role: 'user', content: promptFor(c.scenario) }],
  };
  if (offersTools(c.scenario)) {
    p.tools = [{ name: TOOL.name, description: TOOL.description, input_schema: TOOL.schema }];
  }
  if (c.scenario === 'think') {
    p.max_tokens = 2048;
    p.thinking = { type: 'enabled', budget_tokens: 1024 };
  }
  return p;
}

function normAnthropic(m) {
  const out = { text: '', thinking: '', tool_calls: [], stop: m.stop_reason ?? null };
  for (const b of m.content ?? []) {
    if (b.type === 'text') out.text += b.text;
    else if (b.type === 'thinking') {
      out.thinking += b.thinking;
      out.thinking_signature = Boolean(b.signature);
    } else if (b.type === 'tool_use') out.tool_calls.push({ name: b.name, arguments: b.input });
  }
  out.usage = { input: num(m.usage?.input_tokens), output: num(m.usage?.output_tokens) };
  return out;
}

async function runAnthropic(Cls, c) {
  const client = new Cls({
    apiKey: c.apiKey ?? API_KEY, baseURL: c.baseURL, maxRetries: 0, timeout: TIMEOUT_MS,
  });
  const params = anthropicParams(c);
  if (c.scenario === 'count') {
    const counted = await client.messages.countTokens({ model: c.model, messages: params.messages });
    return { input_tokens: counted.input_tokens };
  }
  if (!c.stream) return normAnthropic(await client.messages.create(params));
  const stream = client.messages.stream(params);
  return normAnthropic(await stream.finalMessage());
}

// ---- OpenAI Chat Completions

function chatParams(c) {
  const p = { model: c.model, messages: [{ role: 'user', content: promptFor(c.scenario) }] };
  if (offersTools(c.scenario)) {
    p.tools = [{
      type: 'function',
      function: { name: TOOL.name, description: TOOL.description, parameters: TOOL.schema },
    }];
  }
  if (c.scenario === 'think') p.reasoning_effort = 'low';
  return p;
}

function normChat(r, reasoning) {
  const choice = r.choices?.[0] ?? {};
  const msg = choice.message ?? {};
  const out = {
    text: msg.content ?? '',
    // reasoning_content is the de-facto extension (DeepSeek, vLLM, ...), not in the SDK's types
    thinking: reasoning ?? msg.reasoning_content ?? '',
    tool_calls: (msg.tool_calls ?? []).map((t) => ({
      name: t.function?.name,
      arguments: parseArgs(t.function?.arguments),
    })),
    stop: choice.finish_reason ?? null,
  };
  out.usage = { input: num(r.usage?.prompt_tokens), output: num(r.usage?.completion_tokens) };
  return out;
}

// ---- OpenAI embeddings and legacy completions (scenarios embed, complete)

// embeddings.create sends encoding_format "base64" when none is given and decodes the float32
// vectors itself (a Float32Array each).
async function runOpenAIEmbed(client, c) {
  const r = await client.embeddings.create({ model: c.model, input: EMBED_TEXTS });
  return {
    vectors: (r.data ?? []).map((d) => Array.from(d.embedding)),
    indexes: (r.data ?? []).map((d) => d.index),
    usage: { input: num(r.usage?.prompt_tokens) },
  };
}

async function runOpenAICompletion(client, c) {
  const params = { model: c.model, prompt: COMPLETE_PROMPT, max_tokens: 64 };
  if (!c.stream) {
    const r = await client.completions.create(params);
    return {
      text: r.choices?.[0]?.text ?? '',
      stop: r.choices?.[0]?.finish_reason ?? null,
      object: r.object,
      usage: { input: num(r.usage?.prompt_tokens), output: num(r.usage?.completion_tokens) },
    };
  }
  const out = { text: '', stop: null, object: null, usage: { input: 0, output: 0 }, chunks: 0 };
  const stream = await client.completions.create({
    ...params, stream: true, stream_options: { include_usage: true },
  });
  for await (const chunk of stream) {
    out.chunks++;
    out.object = chunk.object;
    for (const ch of chunk.choices ?? []) {
      out.text += ch.text ?? '';
      if (ch.finish_reason) out.stop = ch.finish_reason;
    }
    if (chunk.usage) {
      out.usage = {
        input: num(chunk.usage.prompt_tokens), output: num(chunk.usage.completion_tokens),
      };
    }
  }
  return out;
}

async function runChat(c) {
  const client = new OpenAI({
    apiKey: c.apiKey ?? API_KEY, baseURL: `${c.baseURL}/v1`, maxRetries: 0, timeout: TIMEOUT_MS,
  });
  if (c.scenario === 'embed') return runOpenAIEmbed(client, c);
  if (c.scenario === 'complete') return runOpenAICompletion(client, c);
  const params = chatParams(c);
  if (!c.stream) return normChat(await client.chat.completions.create(params));
  const stream = client.chat.completions.stream({
    ...params,
    stream_options: { include_usage: true },
  });
  // The helper keeps only the last piece of a non-standard delta field, so the reasoning
  // deltas are concatenated here from the raw chunks it emits.
  let reasoning = '';
  stream.on('chunk', (chunk) => {
    for (const ch of chunk.choices ?? []) {
      if (typeof ch.delta?.reasoning_content === 'string') reasoning += ch.delta.reasoning_content;
    }
  });
  return normChat(await stream.finalChatCompletion(), reasoning);
}

// ---- OpenAI Responses

function responsesParams(c) {
  const p = { model: c.model, input: promptFor(c.scenario) };
  if (offersTools(c.scenario)) {
    p.tools = [{
      type: 'function', name: TOOL.name, description: TOOL.description,
      parameters: TOOL.schema, strict: false,
    }];
  }
  if (c.scenario === 'think') p.reasoning = { effort: 'low', summary: 'auto' };
  return p;
}

function normResponses(r) {
  const out = { text: '', thinking: '', tool_calls: [], stop: r.status ?? null };
  for (const item of r.output ?? []) {
    if (item.type === 'message') {
      for (const part of item.content ?? []) if (part.type === 'output_text') out.text += part.text;
    } else if (item.type === 'reasoning') {
      for (const s of item.summary ?? []) out.thinking += s.text ?? '';
      if (!item.summary?.length) for (const s of item.content ?? []) out.thinking += s.text ?? '';
    } else if (item.type === 'function_call') {
      out.tool_calls.push({ name: item.name, arguments: parseArgs(item.arguments) });
    }
  }
  if (r.incomplete_details?.reason) out.stop = `${out.stop}:${r.incomplete_details.reason}`;
  out.usage = { input: num(r.usage?.input_tokens), output: num(r.usage?.output_tokens) };
  return out;
}

async function runResponses(c) {
  const client = new OpenAI({
    apiKey: c.apiKey ?? API_KEY, baseURL: `${c.baseURL}/v1`, maxRetries: 0, timeout: TIMEOUT_MS,
  });
  const params = responsesParams(c);
  if (!c.stream) return normResponses(await client.responses.create(params));
  return normResponses(await client.responses.stream(params).finalResponse());
}

// ---- Gemini generateContent (@google/genai)

function genaiParams(c) {
  const config = {};
  if (offersTools(c.scenario)) {
    config.tools = [{
      functionDeclarations: [{
        name: TOOL.name,
        description: TOOL.description,
        parameters: {
          type: Type.OBJECT,
          properties: { arg: { type: Type.STRING, description: 'the place' } },
          required: ['arg'],
        },
      }],
    }];
  }
  if (c.scenario === 'think') config.thinkingConfig = { includeThoughts: true };
  return { model: c.model, contents: promptFor(c.scenario), config };
}

function normGenai(chunks) {
  const out = { text: '', thinking: '', tool_calls: [], stop: null };
  let usage = null;
  for (const r of chunks) {
    const cand = r.candidates?.[0];
    for (const part of cand?.content?.parts ?? []) {
      if (part.thought && typeof part.text === 'string') out.thinking += part.text;
      else if (typeof part.text === 'string') out.text += part.text;
      if (part.functionCall) {
        const { name, args } = part.functionCall;
        out.tool_calls.push({ name, arguments: args ?? null });
      }
    }
    if (cand?.finishReason) out.stop = cand.finishReason;
    if (r.usageMetadata) usage = r.usageMetadata;
  }
  out.usage = {
    input: num(usage?.promptTokenCount),
    output: num(usage?.candidatesTokenCount) + num(usage?.thoughtsTokenCount),
  };
  return out;
}

async function runGenai(c) {
  const ai = new GoogleGenAI({
    apiKey: c.apiKey ?? API_KEY,
    httpOptions: { baseUrl: c.baseURL, timeout: TIMEOUT_MS },
  });
  if (c.scenario === 'count') {
    const r = await ai.models.countTokens({ model: c.model, contents: 'how many tokens is this?' });
    return { input_tokens: r.totalTokens };
  }
  if (c.scenario === 'embed') {
    // the Gemini API's embedContent is always :batchEmbedContents, one request per content
    const r = await ai.models.embedContent({ model: c.model, contents: EMBED_TEXTS });
    return { vectors: (r.embeddings ?? []).map((e) => e.values) };
  }
  const params = genaiParams(c);
  if (!c.stream) return normGenai([await ai.models.generateContent(params)]);
  const chunks = [];
  for await (const chunk of await ai.models.generateContentStream(params)) chunks.push(chunk);
  return normGenai(chunks);
}

// ---- dispatch

const RUNNERS = {
  anthropic: (c) => runAnthropic(Anthropic, c),
  'anthropic-0': (c) => runAnthropic(Anthropic0, c),
  'openai-chat': runChat,
  'openai-responses': runResponses,
  genai: runGenai,
};

function describeError(err) {
  const out = {
    error: `${err?.name ?? 'Error'}: ${err?.message ?? String(err)}`,
    class: err?.constructor?.name ?? typeof err,
  };
  if (typeof err?.status === 'number') out.status = err.status;
  // the message of the error envelope, as the SDK parsed it (genai keeps only the raw body)
  let message = err?.error?.error?.message ?? err?.error?.message;
  if (message === undefined) {
    try {
      message = JSON.parse(err?.message).error.message;
    } catch {
      message = undefined;
    }
  }
  if (typeof message === 'string') out.message = message;
  if (err?.error !== undefined) out.body = err.error;
  if (err?.cause?.message) out.error += ` (cause: ${err.cause.message})`;
  return out;
}

async function runCase(c) {
  const runner = RUNNERS[c.sdk];
  if (!runner) return { id: c.id, error: `unknown sdk ${c.sdk}` };
  try {
    return { id: c.id, ...(await runner(c)) };
  } catch (err) {
    return { id: c.id, ...describeError(err) };
  }
}

async function readInput() {
  if (process.argv[2]) return process.argv[2];
  const parts = [];
  for await (const chunk of process.stdin) parts.push(chunk);
  return Buffer.concat(parts).toString('utf8');
}

async function main() {
  let input;
  try {
    input = JSON.parse(await readInput());
  } catch (err) {
    process.stderr.write(`run_client: bad input: ${err.message}\n`);
    process.exit(2);
  }
  const cases = Array.isArray(input.cases) ? input.cases : [input];
  const results = await Promise.all(cases.map(runCase));
  process.stdout.write(results.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

main();
