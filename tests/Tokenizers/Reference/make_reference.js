// Writes the small tokenizer.json files in this folder and expected.json: for each file and each hard text, the ids and the
// decode that Hugging Face's tokenizers library (the Rust library through its Node bindings, npm package "tokenizers") gives.
// Run: npm install tokenizers@0.23.2 in a scratch folder, then NODE_PATH=<that folder>/node_modules node make_reference.js
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const texts = [
  'Hello world! The quick brown fox jumps over the lazy dog.',
  'café naïve résumé',
  'cafe\u0301 nai\u0308ve re\u0301sume\u0301 Vie\u0323\u0302t',
  ' Việt Nam and Việt',
  '日本語のテキスト、中文字符。한국어 텍스트',
  '👩‍👩‍👧‍👦 family, 👍🏽 thumbs, 🏳️‍🌈 flag 🙂',
  '𝐀𝐁𝐂 math 𝑥² + 𝟏𝟐𝟑 = ∑ 𐐀𐐨',
  'tabs\tand\t\ttabs, runs of     spaces   \n\n  and newlines\r\n',
  'ﬁ ligature, Ｆｕｌｌｗｉｄｔｈ ＡＢＣ, ① ㎏ ½',
  '12345 67 8,901.5 ²³ Ⅻ ٣٤٥',
  '  Leading and trailing spaces  ',
  'ÀÉÎÕÜ İstanbul ΣΑΣ ǅ',
  "It's a dog's life, isn't it? We'LL SEE. I'm sure they've got it, you'd think.",
  '<|im_start|>user\nhello <think>hmm</think> world<|im_end|>\n<|im_start|>assistant\n',
  '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there!<|eot_id|>',
  '<s>[INST] Hello, how are you? [/INST] Fine.</s><unk>',
  '<bos><start_of_turn>user\nHi  there<end_of_turn>\n<start_of_turn>model\n',
  'x<|im_end|>y <|im_end|> z<|eot_id|><|eot_id|>',
  'hotdogs dogs dogs_ dogs, Fox fox FOX<think>  x   <|im_end|>  y dogs',
  '',
  ' ',
  '   ',
  '\n',
];

const english = 'Hello world! The quick brown fox jumps over the lazy dog. It is a truth universally acknowledged, that a single ' +
  'man in possession of a good fortune, must be in want of a wife. However little known the feelings or views of such a man may ' +
  'be on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is ' +
  'considered the rightful property of some one or other of their daughters. Hello there, how are you? I am fine, thanks. ' +
  'Numbers 123 456 7890 and tabs\tand  spaces   here.\n\nNew lines too.';
const corpus = english + ' ' + texts.join(' ');

// GPT-2's bytes_to_unicode.
const byteSymbol = (() => {
  const table = [];
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table.push(String.fromCodePoint(printable ? b : next++));
  }
  return table;
})();
const byteLevel = (s) => [...Buffer.from(s, 'utf8')].map((b) => byteSymbol[b]);

// Greedy BPE training: the most frequent adjacent pair (ties: the smaller pair as text) merges, `count` times.
function trainMerges(words, count) {
  const seqs = words.map((w) => [...w]);
  const merges = [];
  for (let m = 0; m < count; m++) {
    const counts = new Map();
    for (const s of seqs) for (let i = 0; i + 1 < s.length; i++) {
      const key = s[i] + '\u0000' + s[i + 1];
      counts.set(key, (counts.get(key) || 0) + 1);
    }
    let best = null, bestCount = 1;
    for (const [key, c] of counts) if (c > bestCount || (c === bestCount && best !== null && key < best)) { best = key; bestCount = c; }
    if (best === null) break;
    const [a, b] = best.split('\u0000');
    merges.push([a, b]);
    for (const s of seqs) for (let i = 0; i + 1 < s.length; i++) if (s[i] === a && s[i + 1] === b) s.splice(i, 2, a + b);
  }
  return merges;
}

const wordRegex = / ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+/gu;
const words = (text) => text.match(wordRegex) || [];

function added(list, start) {
  return list.map((t, i) => ({ id: start + i, content: typeof t === 'string' ? t : t.content, single_word: !!t.single_word,
    lstrip: !!t.lstrip, rstrip: !!t.rstrip, normalized: !!t.normalized, special: t.special !== false }));
}

// (Added tokens must not be vocabulary entries: the reference would give them the entry's id instead of the one written.)
// Byte-level BPE: the 256 byte symbols, merges learnt on the corpus, `extra` whole tokens (reachable by merges or not).
function byteLevelModel(extraWords, options) {
  const vocab = {};
  byteSymbol.forEach((s, i) => { vocab[s] = i; });
  const merges = trainMerges(words(corpus).map((w) => byteLevel(w).join('')).map((w) => [...w]).map((a) => a), 300)
    .filter(([a, b]) => true);
  for (const [a, b] of merges) if (!(a + b in vocab)) vocab[a + b] = Object.keys(vocab).length;
  for (const w of extraWords) { const t = byteLevel(w).join(''); if (!(t in vocab)) vocab[t] = Object.keys(vocab).length; }
  return { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false,
    byte_fallback: false, ignore_merges: false, ...options, vocab, merges };
}

// SentencePiece-style BPE: <unk> <s> </s>, the 256 <0xXX> byte tokens, the characters of the English corpus, merges learnt on
// `wordsOf(corpus)` (each a string of characters); characters outside the vocabulary fall back to bytes.
function charModel(wordsOf, options, specials = ['<unk>', '<s>', '</s>']) {
  const vocab = {};
  specials.forEach((s) => { vocab[s] = Object.keys(vocab).length; });
  for (let b = 0; b < 256; b++) vocab['<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>'] = Object.keys(vocab).length;
  for (const c of new Set([...english.replace(/ /g, '▁') + ' ▁'])) if (!(c in vocab)) vocab[c] = Object.keys(vocab).length;
  const merges = trainMerges(wordsOf(english).map((w) => [...w].filter((c) => c in vocab).join('')), 250);
  for (const [a, b] of merges) if (!(a + b in vocab)) vocab[a + b] = Object.keys(vocab).length;
  return { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true,
    byte_fallback: true, ignore_merges: false, ...options, vocab, merges };
}

const llama3Regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const qwenRegex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const deepseekRegex = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
const split = (pattern, behavior, invert = false) => ({ type: 'Split', pattern, behavior, invert });
const byteLevelPre = (options = {}) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false, ...options });
const byteLevelDecoder = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true };
const sentencePieceDecoder = (strip) => ({ type: 'Sequence', decoders: [
  { type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' },
  ...(strip ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : [])] });
const chatMl = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', { content: '<think>', special: false }, { content: '</think>', special: false }];
const llama3Specials = ['<|begin_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'];
const spaceWords = (text) => text.split(/(?= )/).map((w) => w.replace(/ /g, '▁'));

function file(added_tokens, normalizer, pre_tokenizer, model, decoder) {
  return { version: '1.0', truncation: null, padding: null, added_tokens, normalizer, pre_tokenizer, post_processor: null, decoder, model };
}

function byteLevelFile(specials, normalizer, pre, extra = [], options = {}) {
  const model = byteLevelModel(extra, options);
  return file(added(specials, Object.keys(model.vocab).length), normalizer, pre, model, byteLevelDecoder);
}

function charFile(normalizer, pre, decoder, wordsOf, specialsAfter = [], options = {}) {
  const model = charModel(wordsOf, options);
  const specials = added(['<unk>', '<s>', '</s>'], 0);
  return file(specials.concat(added(specialsAfter, Object.keys(model.vocab).length)), normalizer, pre, model, decoder);
}

const unreachable = [' Việt', ' fox', ' jumps', 'Nam', ' universally'];
const fixtures = {
  'llama3.json': byteLevelFile(llama3Specials, null,
    { type: 'Sequence', pretokenizers: [split({ Regex: llama3Regex }, 'Isolated'), byteLevelPre()] }, unreachable, { ignore_merges: true }),
  'llama3-without-ignore-merges.json': byteLevelFile(llama3Specials, null,
    { type: 'Sequence', pretokenizers: [split({ Regex: llama3Regex }, 'Isolated'), byteLevelPre()] }, unreachable),
  'qwen3.json': byteLevelFile(chatMl, { type: 'NFC' },
    { type: 'Sequence', pretokenizers: [split({ Regex: qwenRegex }, 'Isolated'), byteLevelPre({ trim_offsets: false })] }),
  'deepseek3.json': byteLevelFile(['<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>', '<|im_end|>'], { type: 'Sequence', normalizers: [] },
    { type: 'Sequence', pretokenizers: [split({ Regex: '\\p{N}{1,3}' }, 'Isolated'), split({ Regex: '[一-龥\u3040-ゟ゠-ヿ]+' }, 'Isolated'),
      split({ Regex: deepseekRegex }, 'Isolated'), byteLevelPre()] }),
  'gpt2-prefix-space.json': byteLevelFile(['<|endoftext|>', '<|im_end|>'], null, byteLevelPre({ add_prefix_space: true, use_regex: true })),
  'digits-individual.json': byteLevelFile(['<|im_end|>'], null,
    { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevelPre({ use_regex: true })] }),
  'digits-contiguous.json': byteLevelFile(['<|im_end|>'], null,
    { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: false }, byteLevelPre()] }),
  'llama2.json': charFile({ type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    null, sentencePieceDecoder(true), (t) => [t.replace(/ /g, '▁')].flatMap((s) => s.split(/(?=▁)/))),
  'gemma3.json': charFile({ type: 'Replace', pattern: { String: ' ' }, content: '▁' }, split({ String: ' ' }, 'MergedWithPrevious'),
    sentencePieceDecoder(false), spaceWords, ['<start_of_turn>', '<end_of_turn>', '<bos>', { content: '<|im_end|>', rstrip: true, lstrip: true }]),
  'metaspace-first.json': charFile(null, { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true },
    { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true }, spaceWords, ['<|im_end|>']),
  'metaspace-always-unsplit.json': charFile(null, { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: false },
    { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: false }, spaceWords, ['<|im_end|>']),
  'metaspace-never.json': charFile(null, { type: 'Metaspace', replacement: '▁', prepend_scheme: 'never', split: true },
    { type: 'Sequence', decoders: [{ type: 'Metaspace', replacement: '▁', prepend_scheme: 'never', split: true }, { type: 'ByteFallback' }, { type: 'Fuse' }] },
    spaceWords, ['<|im_end|>']),
  'nfkc-lowercase-strip.json': charFile({ type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }, { type: 'Strip', strip_left: true, strip_right: true },
    { type: 'Replace', pattern: { Regex: '\\s+' }, content: '▁' }] }, null,
    // The Rust Strip decoder panics on a token shorter than its stop (an empty text fused to ""), so stop is used before Fuse only.
    { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Strip', content: 'e', start: 0, stop: 1 }, { type: 'Fuse' },
      { type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'Strip', content: ' ', start: 2, stop: 0 }] },
    spaceWords, [{ content: '<|im_end|>', normalized: true }]),
  'nfd-nfkd.json': charFile({ type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'Strip', strip_left: false, strip_right: true }, { type: 'NFKD' }] },
    { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true }, sentencePieceDecoder(false), spaceWords),
};
fixtures['added-token-flags.json'] = byteLevelFile(
  [{ content: 'dogs', single_word: true, special: false }, { content: '<|im_end|>', lstrip: true, rstrip: true }, { content: '<think>', rstrip: true, special: false },
    { content: 'Fox', normalized: true, special: false }, '<|im_start|>'],
  { type: 'Lowercase' }, { type: 'Sequence', pretokenizers: [split({ Regex: qwenRegex }, 'Isolated'), byteLevelPre()] });
const behaviours = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];
for (const behaviour of behaviours) for (const invert of [false, true]) {
  const name = `split-${behaviour.toLowerCase()}${invert ? '-invert' : ''}.json`;
  fixtures[name] = charFile({ type: 'Replace', pattern: { String: ' ' }, content: '▁' }, split({ Regex: '[▁\\p{P}]' }, behaviour, invert),
    sentencePieceDecoder(false), (t) => [t.replace(/ /g, '▁')], ['<|im_end|>']);
}
fixtures['split-string-removed.json'] = charFile(null,
  { type: 'Sequence', pretokenizers: [split({ String: '  ' }, 'Removed'), split({ Regex: '\\p{L}+|\\p{N}+' }, 'MergedWithNext', true)] },
  sentencePieceDecoder(false), (t) => [t.replace(/ /g, '▁')]);

(async () => {
  const expected = {};
  for (const [name, json] of Object.entries(fixtures)) {
    const text = JSON.stringify(json, null, 1);
    fs.writeFileSync(path.join(__dirname, name), text + '\n');
    const tokenizer = Tokenizer.fromString(text);
    const cases = [];
    for (const input of texts) {
      const encoding = await tokenizer.encode(input, null, { addSpecialTokens: false });
      const ids = encoding.getIds();
      cases.push({ text: input, ids, decoded: await tokenizer.decode(ids, false) });
    }
    expected[name] = cases;
  }
  const version = require('tokenizers/package.json').version;
  fs.writeFileSync(path.join(__dirname, 'expected.json'), JSON.stringify({ reference: `tokenizers ${version} (npm)`, files: expected }, null, 1) + '\n');
})();
