//! Playing the answer: the inference thread's notes waiting for their time, the generated
//! notes sounding, and the note-offs owed across a host reset.

use std::collections::VecDeque;

use super::{OutEvent, Settings};
use crate::timeline::BlockTime;

/// A generated note event waiting for its beat (velocity 0 ends the note).
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    pub beat: f64,
    pub pitch: u8,
    pub velocity: u8,
}

const PENDING_CAPACITY: usize = 4096;

pub struct Playback {
    id: u32,
    answering: bool,
    pending: VecDeque<Pending>,
    /// Channel each generated pitch sounds on, if it does.
    sounding: [Option<u8>; 128],
    /// Generated notes still sounding when the host reset or deactivated the plugin. No
    /// events can be sent then, so their note-offs go out first thing in the next block.
    owed_offs: [Option<u8>; 128],
    /// The sample of the current block each sounding generated pitch was struck at. A late
    /// note and its end can fall due on the same sample; the end then waits a sample (or a
    /// block), so that no note ever has zero length.
    struck_at: [Option<u32>; 128],
}

impl Default for Playback {
    fn default() -> Self {
        Self {
            id: 0,
            answering: false,
            pending: VecDeque::with_capacity(PENDING_CAPACITY),
            sounding: [None; 128],
            owed_offs: [None; 128],
            struck_at: [None; 128],
        }
    }
}

impl Playback {
    /// The answer asked for last.
    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn is_answering(&self) -> bool {
        self.answering
    }

    /// Starts a new answer, whose notes replace whatever was still pending. Returns its id.
    pub fn start(&mut self) -> u32 {
        self.id = self.id.wrapping_add(1);
        self.answering = true;
        self.pending.clear();
        self.id
    }

    /// Queues a note of answer `id`; a stale answer's note is ignored. Returns false when the
    /// queue is full and the note is lost (the queue never grows on the audio thread).
    pub fn queue(&mut self, id: u32, note: Pending) -> bool {
        if !(self.answering && id == self.id) {
            return true;
        }
        if self.pending.len() < PENDING_CAPACITY {
            self.pending.push_back(note);
            true
        } else {
            false
        }
    }

    /// Starts a block: what was struck in the last one may end from its first sample on.
    pub fn begin_block(&mut self) {
        self.struck_at = [None; 128];
    }

    /// Plays the notes due in `block` before sample `until`, never before `cursor`, which it
    /// advances.
    pub fn play_until(
        &mut self,
        block: &BlockTime,
        until: u32,
        cursor: &mut u32,
        settings: &Settings,
        emit: &mut impl FnMut(OutEvent),
    ) {
        while let Some(p) = self.pending.front().copied() {
            let Some(timing) = block.offset_of(p.beat) else {
                break;
            };
            if timing >= until {
                break;
            }
            // A late note plays now, not before what this block already sent.
            let mut timing = timing.max(*cursor);
            let pitch = p.pitch & 127;
            if self.struck_at[usize::from(pitch)] == Some(timing) {
                // Ending (or re-striking) a note on the sample it began would silence it.
                timing += 1;
                if timing >= until {
                    break;
                }
            }
            *cursor = timing;
            self.pending.pop_front();
            let channel = settings.channel;
            // A note-off ends the pitch; a note-on re-strikes it if it still sounds (or still
            // owes its end from a stop on this block's sample it began on).
            if let Some(ch) = self.sounding[pitch as usize]
                .take()
                .or_else(|| self.owed_offs[pitch as usize].take())
            {
                emit(OutEvent::Off {
                    timing,
                    channel: ch,
                    pitch,
                });
            }
            if p.velocity > 0 {
                let v = (f32::from(p.velocity) * settings.velocity_scale)
                    .round()
                    .clamp(1.0, 127.0) as u8;
                emit(OutEvent::On {
                    timing,
                    channel,
                    pitch,
                    velocity: v,
                });
                self.sounding[pitch as usize] = Some(channel);
                self.struck_at[pitch as usize] = Some(timing);
            }
        }
    }

    /// Ends the answer once nothing of it waits to be played.
    pub fn finish_if_played(&mut self) {
        if self.pending.is_empty() {
            self.answering = false;
        }
    }

    /// Ends the answer: every generated note stops at `timing`, except one struck on that
    /// very sample, which stops at the start of the next block.
    pub fn stop(&mut self, timing: u32, emit: &mut impl FnMut(OutEvent)) {
        self.answering = false;
        self.pending.clear();
        for (pitch, ch) in self.sounding.iter_mut().enumerate() {
            if let Some(channel) = ch.take() {
                if self.struck_at[pitch] == Some(timing) {
                    self.owed_offs[pitch] = Some(channel);
                    continue;
                }
                emit(OutEvent::Off {
                    timing,
                    channel,
                    pitch: pitch as u8,
                });
            }
        }
    }

    /// [`Self::stop`] where no events can be sent: the note-offs are owed to the next block.
    pub fn stop_owing(&mut self) {
        // Nothing more is sent in this block, so every end is owed to the next.
        self.struck_at = [None; 128];
        let mut owed = self.owed_offs;
        self.stop(0, &mut |e| {
            if let OutEvent::Off { channel, pitch, .. } = e {
                owed[usize::from(pitch)] = Some(channel);
            }
        });
        self.owed_offs = owed;
    }

    /// Sends the note-offs owed since a reset, at the start of the block.
    pub fn pay_owed(&mut self, emit: &mut impl FnMut(OutEvent)) {
        for (pitch, owed) in self.owed_offs.iter_mut().enumerate() {
            if let Some(channel) = owed.take() {
                emit(OutEvent::Off {
                    timing: 0,
                    channel,
                    pitch: pitch as u8,
                });
            }
        }
    }

    /// How many generated notes sound now (including those whose note-off is owed).
    pub fn sounding_count(&self) -> usize {
        self.sounding
            .iter()
            .chain(&self.owed_offs)
            .filter(|s| s.is_some())
            .count()
    }
}
