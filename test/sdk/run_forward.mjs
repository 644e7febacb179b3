// Drive the openai SDK's forwarded-route calls (images, audio) against the gateway and print one
// JSON result line per call (test/integration/test_sdk_forward.py reads them).
//
// Input (JSON, first argv argument): {baseURL, apiKey, audioFile, imageFile}
//   audioFile, imageFile: paths of real files the SDK uploads as multipart/form-data
// Output: one JSON line per call, {call, ...what it returned} or {call, error, status}.

import fs from 'node:fs';
import OpenAI from 'openai';

const input = JSON.parse(process.argv[2]);
const client = new OpenAI({
  apiKey: input.apiKey,
  baseURL: `${input.baseURL}/v1`,
  timeout: 20000,
  maxRetries: 0,
});

const calls = {
  async 'images.generate'() {
    const r = await client.images.generate({ model: 'gpt-image-1', prompt: 'a red fox' });
    return { image: Buffer.from(r.data[0].b64_json, 'base64').toString(), model: r.model };
  },
  async 'images.edit'() {
    const r = await client.images.edit({
      model: 'gpt-image-1',
      prompt: 'add a hat',
      image: fs.createReadStream(input.imageFile),
    });
    return { file: r.data[0].edited_file, bytes: r.data[0].edited_bytes };
  },
  async 'audio.transcriptions.create'() {
    const r = await client.audio.transcriptions.create({
      model: 'whisper-1',
      file: fs.createReadStream(input.audioFile),
    });
    return { text: r.text, model: r.model, bytes: r.file_bytes };
  },
  async 'audio.speech.create'() {
    const r = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'hi' });
    const bytes = Buffer.from(await r.arrayBuffer());
    return { type: r.headers.get('content-type'), length: bytes.length, head: [...bytes.subarray(0, 4)] };
  },
};

for (const [call, run] of Object.entries(calls)) {
  try {
    console.log(JSON.stringify({ call, ...(await run()) }));
  } catch (e) {
    console.log(JSON.stringify({ call, error: String(e), status: e.status ?? null }));
  }
}
