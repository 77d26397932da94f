// The room's audio over WebRTC: people on stage publish their microphone and hear the room
// (a mix without their own voice); everyone else receives the mix. Offers go over the socket;
// refusals and silence are retried with jittered backoff (docs/protocol.md, "rtc_offer").

const ANSWER_TIMEOUT = 8000;
// After the answer, ICE and DTLS get this long: a connection that hangs in "connecting" (its
// server peer replaced or gone) is retried instead of waiting for the browser's own ~30 s.
const CONNECT_TIMEOUT = 8000;
const RETRY_CODES = new Set(["media_unavailable", "offer_busy", "rate_limited", "no_media_worker",
  "server_error"]);

export class Audio {
  // send(type, fields) → bool; onChange() is called whenever `phase` or `error` changes.
  constructor({ iceServers, send, onChange }) {
    this.iceServers = iceServers;
    this.send = send;
    this.onChange = onChange;
    this.element = document.createElement("audio");
    this.element.autoplay = true;
    this.element.dataset.testid = "room-audio";
    this.pc = null;
    this.mic = null;
    this.want = false;       // the person wants audio on (stays set across reconnects)
    this.publish = false;
    this.muted = true;
    this.phase = "off";      // off | connecting | connected | failed | blocked
    this.error = null;       // null | mic_denied | mic_missing | ice_failed | bad_offer | unavailable
    this.attempt = 0;
    this.retryTimer = null;
    this.answerTimer = null;
    this.micDenied = false;
    // Offers sent and not yet answered or refused: answers come back in order, so only the
    // answer to the newest offer (none outstanding after it) belongs to the current connection.
    this.outstanding = 0;
  }

  set(phase, error = this.error) {
    this.phase = phase;
    this.error = error;
    this.onChange();
  }

  // Start (or restart) audio: publishing the microphone when on stage.
  async start({ publish, muted }) {
    this.want = true;
    this.publish = publish;
    this.muted = muted;
    clearTimeout(this.retryTimer);
    this.closePeer();
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    this.set("connecting", this.micDenied && publish ? this.error : null);
    pc.ontrack = (event) => {
      this.element.srcObject = event.streams[0] || new MediaStream([event.track]);
      this.play();
    };
    pc.onconnectionstatechange = () => {
      if (this.pc !== pc) return;
      if (pc.connectionState === "connected") {
        this.attempt = 0;
        clearTimeout(this.retryTimer);  // connected after all: no retry of a working path
        this.set("connected", this.error === "ice_failed" ? null : this.error);
      } else if (pc.connectionState === "failed") {
        this.set("failed", "ice_failed");
        this.retryLater();
      }
    };
    let sending = false;
    if (publish) {
      const track = await this.microphone();
      if (this.pc !== pc) return;
      if (track) {
        track.enabled = !muted;
        pc.addTransceiver(track, { direction: "sendrecv", streams: [this.mic] });
        sending = true;
      }
    }
    if (!sending) pc.addTransceiver("audio", { direction: "recvonly" });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange",
        () => pc.iceGatheringState === "complete" && resolve());
      setTimeout(resolve, 2000);
    });
    if (this.pc !== pc) return;
    if (this.send("rtc_offer", { sdp: pc.localDescription.sdp })) {
      this.outstanding += 1;
    } else {
      this.retryLater();  // the socket is down: the next snapshot restarts audio anyway
      return;
    }
    clearTimeout(this.answerTimer);
    this.answerTimer = setTimeout(() => {
      if (this.pc === pc && !pc.remoteDescription) {
        this.outstanding = 0;
        this.set("failed", "unavailable");
        this.retryLater();
      }
    }, ANSWER_TIMEOUT);
  }

  async microphone() {
    if (this.mic) return this.mic.getAudioTracks()[0] || null;
    try {
      this.mic = await navigator.mediaDevices.getUserMedia({ audio: true });
      this.micDenied = false;
      if (this.error === "mic_denied" || this.error === "mic_missing") this.error = null;
      return this.mic.getAudioTracks()[0] || null;
    } catch (error) {
      this.micDenied = true;
      const missing = error && (error.name === "NotFoundError" || error.name === "OverconstrainedError");
      this.error = missing ? "mic_missing" : "mic_denied";
      this.onChange();
      return null;
    }
  }

  get hasMic() {
    return Boolean(this.mic);
  }

  answer(sdp) {
    this.outstanding = Math.max(0, this.outstanding - 1);
    const pc = this.pc;
    if (!pc || this.outstanding > 0 || pc.signalingState !== "have-local-offer") return;
    clearTimeout(this.answerTimer);
    pc.setRemoteDescription({ type: "answer", sdp }).catch(() => {
      if (this.pc === pc) {
        this.set("failed", "unavailable");
        this.retryLater();
      }
    });
    this.answerTimer = setTimeout(() => {
      if (this.pc === pc && pc.connectionState !== "connected") {
        this.set("failed", "ice_failed");
        this.retryLater();
      }
    }, CONNECT_TIMEOUT);
  }

  // An `error` event with ref "rtc_offer".
  refused(code) {
    this.outstanding = Math.max(0, this.outstanding - 1);
    if (!this.want || this.outstanding > 0) return;
    clearTimeout(this.answerTimer);
    if (RETRY_CODES.has(code)) {
      this.set("failed", "unavailable");
      this.retryLater();
    } else {
      this.set("failed", code === "bad_offer" ? "bad_offer" : "unavailable");  // no loop
    }
  }

  retryLater() {
    if (!this.want) return;
    clearTimeout(this.retryTimer);
    const delay = Math.min(15000, 1000 * 2 ** this.attempt) * (0.5 + Math.random());
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.want && this.restart(), delay);
  }

  restart() {
    if (this.want) this.start({ publish: this.publish, muted: this.muted });
  }

  play() {
    const playing = this.element.play();
    if (playing && playing.catch) {
      playing.then(() => {
        if (this.phase === "blocked") this.set(this.pc && this.pc.connectionState === "connected" ? "connected" : "connecting");
      }).catch(() => this.set("blocked"));
    }
  }

  setMuted(muted) {
    this.muted = muted;
    if (this.mic) for (const track of this.mic.getAudioTracks()) track.enabled = !muted;
  }

  closePeer() {
    clearTimeout(this.answerTimer);
    if (this.pc) { this.pc.close(); this.pc = null; }
  }

  stop({ release = true } = {}) {
    this.want = false;
    clearTimeout(this.retryTimer);
    const had = Boolean(this.pc);
    this.closePeer();
    if (had) this.send("rtc_close");
    if (release && this.mic) { for (const track of this.mic.getTracks()) track.stop(); this.mic = null; }
    this.element.srcObject = null;
    this.set("off", null);
  }

  releaseMic() {
    if (this.mic) { for (const track of this.mic.getTracks()) track.stop(); this.mic = null; }
  }
}
