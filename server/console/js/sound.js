// A short two-tone beep for a new P1 alarm, made with WebAudio (no audio files). Browsers
// allow sound only after a user gesture: ``unlock()`` is called from the sign-in click and
// from any click or key press after it.

const MUTE_KEY = "pal.muted";
let context = null;

export const sound = {
  muted: localStorage.getItem(MUTE_KEY) === "1",
  beeps: 0,

  unlock() {
    try {
      context ??= new AudioContext();
      if (context.state === "suspended") context.resume();
    } catch {
      context = null; // no audio device: the queue still shows everything
    }
  },

  toggle() {
    this.muted = !this.muted;
    localStorage.setItem(MUTE_KEY, this.muted ? "1" : "0");
    return this.muted;
  },

  /** Beep (unless muted); counts the beeps in ``body[data-beeps]`` so tests can see them. */
  alarm() {
    if (this.muted) return;
    this.beeps += 1;
    document.body.dataset.beeps = String(this.beeps);
    if (!context) return;
    const start = context.currentTime + 0.01;
    [880, 660, 880].forEach((freq, i) => tone(freq, start + i * 0.18, 0.14));
  },
};

function tone(freq, at, length) {
  const osc = context.createOscillator();
  const gain = context.createGain();
  osc.type = "square";
  osc.frequency.value = freq;
  gain.gain.setValueAtTime(0.0001, at);
  gain.gain.exponentialRampToValueAtTime(0.25, at + 0.01);
  gain.gain.exponentialRampToValueAtTime(0.0001, at + length);
  osc.connect(gain).connect(context.destination);
  osc.start(at);
  osc.stop(at + length + 0.02);
}
