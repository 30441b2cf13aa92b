//! The VST3 host the tests drive: the plugin loaded as a module (COM through the `vst3`
//! crate), one instance with its buses and processing set up, blocks with a process context,
//! event lists and parameter changes, and project state saved and restored through an
//! `IBStream`.

// The VST3 SDK's constant names, matched in patterns; its enum types differ by platform, so
// casts that are no-ops here are needed elsewhere.
#![allow(non_upper_case_globals, clippy::unnecessary_cast)]

use std::ffi::c_void;
use std::ptr;
use std::sync::Mutex;

use super::{
    param_id, plugin_library, Heard, HostSession, BLOCK, SAMPLES_PER_BEAT, SAMPLE_RATE, TEMPO,
};
use vst3::Steinberg::IBStream_::IStreamSeekMode_::*;
use vst3::Steinberg::Vst::Event_::EventTypes_::*;
use vst3::Steinberg::Vst::ProcessContext_::StatesAndFlags_::*;
use vst3::Steinberg::Vst::*;
use vst3::Steinberg::*;
use vst3::{Class, ComPtr, ComWrapper, Interface};

/// What a host's event list holds; bounded like a real host's, so a plugin that floods it
/// sees `kResultFalse` instead of the host growing its buffer on the audio thread.
struct EventList {
    events: Mutex<Vec<Event>>,
}

impl EventList {
    const CAPACITY: usize = 512;

    fn new(events: Vec<Event>) -> ComWrapper<Self> {
        let mut v = Vec::with_capacity(Self::CAPACITY);
        v.extend(events);
        ComWrapper::new(Self {
            events: Mutex::new(v),
        })
    }
}

impl Class for EventList {
    type Interfaces = (IEventList,);
}

impl IEventListTrait for EventList {
    unsafe fn getEventCount(&self) -> int32 {
        self.events.lock().unwrap().len() as int32
    }

    unsafe fn getEvent(&self, index: int32, e: *mut Event) -> tresult {
        match self.events.lock().unwrap().get(index as usize) {
            Some(event) if !e.is_null() => {
                unsafe { *e = *event };
                kResultOk
            }
            _ => kInvalidArgument,
        }
    }

    unsafe fn addEvent(&self, e: *mut Event) -> tresult {
        let mut events = self.events.lock().unwrap();
        if e.is_null() || events.len() == events.capacity() {
            return kResultFalse;
        }
        events.push(unsafe { *e });
        kResultOk
    }
}

/// One parameter's changes within a block.
struct ParamQueue {
    id: ParamID,
    points: Vec<(int32, ParamValue)>,
}

impl Class for ParamQueue {
    type Interfaces = (IParamValueQueue,);
}

impl IParamValueQueueTrait for ParamQueue {
    unsafe fn getParameterId(&self) -> ParamID {
        self.id
    }

    unsafe fn getPointCount(&self) -> int32 {
        self.points.len() as int32
    }

    unsafe fn getPoint(
        &self,
        index: int32,
        sample_offset: *mut int32,
        value: *mut ParamValue,
    ) -> tresult {
        match self.points.get(index as usize) {
            Some(&(offset, v)) if !sample_offset.is_null() && !value.is_null() => {
                unsafe {
                    *sample_offset = offset;
                    *value = v;
                }
                kResultOk
            }
            _ => kInvalidArgument,
        }
    }

    unsafe fn addPoint(&self, _offset: int32, _value: ParamValue, _index: *mut int32) -> tresult {
        kResultFalse
    }
}

struct ParamChanges {
    queues: Vec<ComWrapper<ParamQueue>>,
}

impl Class for ParamChanges {
    type Interfaces = (IParameterChanges,);
}

impl IParameterChangesTrait for ParamChanges {
    unsafe fn getParameterCount(&self) -> int32 {
        self.queues.len() as int32
    }

    unsafe fn getParameterData(&self, index: int32) -> *mut IParamValueQueue {
        self.queues
            .get(index as usize)
            .and_then(|q| q.as_com_ref::<IParamValueQueue>())
            .map_or(ptr::null_mut(), |q| q.as_ptr())
    }

    unsafe fn addParameterData(
        &self,
        _id: *const ParamID,
        _index: *mut int32,
    ) -> *mut IParamValueQueue {
        ptr::null_mut()
    }
}

/// A host's project chunk: what `getState` writes and `setState` reads.
struct MemoryStream {
    /// (bytes, position)
    inner: Mutex<(Vec<u8>, usize)>,
}

impl MemoryStream {
    fn new(bytes: Vec<u8>) -> ComWrapper<Self> {
        ComWrapper::new(Self {
            inner: Mutex::new((bytes, 0)),
        })
    }

    fn bytes(&self) -> Vec<u8> {
        self.inner.lock().unwrap().0.clone()
    }
}

impl Class for MemoryStream {
    type Interfaces = (IBStream,);
}

impl IBStreamTrait for MemoryStream {
    unsafe fn read(&self, buffer: *mut c_void, num_bytes: int32, read: *mut int32) -> tresult {
        let mut inner = self.inner.lock().unwrap();
        let (bytes, pos) = &mut *inner;
        let n = (num_bytes.max(0) as usize).min(bytes.len() - *pos);
        unsafe {
            ptr::copy_nonoverlapping(bytes[*pos..].as_ptr(), buffer.cast::<u8>(), n);
            if !read.is_null() {
                *read = n as int32;
            }
        }
        *pos += n;
        kResultOk
    }

    unsafe fn write(&self, buffer: *mut c_void, num_bytes: int32, written: *mut int32) -> tresult {
        let mut inner = self.inner.lock().unwrap();
        let (bytes, pos) = &mut *inner;
        let n = num_bytes.max(0) as usize;
        let data = unsafe { std::slice::from_raw_parts(buffer.cast::<u8>(), n) };
        if bytes.len() < *pos + n {
            bytes.resize(*pos + n, 0);
        }
        bytes[*pos..*pos + n].copy_from_slice(data);
        *pos += n;
        if !written.is_null() {
            unsafe { *written = n as int32 };
        }
        kResultOk
    }

    unsafe fn seek(&self, offset: int64, mode: int32, result: *mut int64) -> tresult {
        let mut inner = self.inner.lock().unwrap();
        let (bytes, pos) = &mut *inner;
        let base = match mode as IBStream_::IStreamSeekMode {
            kIBSeekSet => 0,
            kIBSeekCur => *pos as int64,
            kIBSeekEnd => bytes.len() as int64,
            _ => return kInvalidArgument,
        };
        let target = base + offset;
        if target < 0 || target > bytes.len() as int64 {
            return kResultFalse;
        }
        *pos = target as usize;
        if !result.is_null() {
            unsafe { *result = target };
        }
        kResultOk
    }

    unsafe fn tell(&self, pos: *mut int64) -> tresult {
        if pos.is_null() {
            return kInvalidArgument;
        }
        unsafe { *pos = self.inner.lock().unwrap().1 as int64 };
        kResultOk
    }
}

/// The loaded module. The library outlives every COM object made from it.
struct Module {
    factory: ComPtr<IPluginFactory>,
    cid: TUID,
    lib: libloading::Library,
}

/// The plugin's classes, in its factory's order: (name, class id). The instrument is the same
/// plugin with a silent stereo output.
pub const CLASSES: [(&str, &[u8; 16]); 2] = [
    ("Continuo", b"ContinuoGRUmidi1"),
    ("Continuo Instrument", b"ContinuoGRUinst1"),
];
pub const EFFECT: usize = 0;
pub const INSTRUMENT: usize = 1;

impl Module {
    fn load(class: usize) -> Self {
        let path = plugin_library();
        unsafe {
            let lib = libloading::Library::new(&path)
                .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()));
            // The Linux VST3 module protocol: ModuleEntry before anything else.
            #[cfg(all(unix, not(target_os = "macos")))]
            {
                let entry: libloading::Symbol<unsafe extern "C" fn(*mut c_void) -> bool> =
                    lib.get(b"ModuleEntry").expect("ModuleEntry");
                assert!(entry(ptr::null_mut()), "ModuleEntry failed");
            }
            let get_factory: libloading::Symbol<unsafe extern "system" fn() -> *mut c_void> =
                lib.get(b"GetPluginFactory").expect("GetPluginFactory");
            let factory =
                ComPtr::from_raw(get_factory().cast::<IPluginFactory>()).expect("a plugin factory");
            assert_eq!(
                factory.countClasses(),
                CLASSES.len() as i32,
                "the plugin's classes"
            );
            let mut info: PClassInfo = std::mem::zeroed();
            assert_eq!(factory.getClassInfo(class as i32, &mut info), kResultOk);
            let (name, cid) = CLASSES[class];
            assert_eq!(c_str(&info.name), name);
            assert_eq!(c_str(&info.category), "Audio Module Class");
            assert_eq!(info.cid.map(|c| c as u8), *cid);
            Self {
                factory,
                cid: info.cid,
                lib,
            }
        }
    }

    fn create(&self) -> ComPtr<IComponent> {
        let mut obj: *mut c_void = ptr::null_mut();
        let result = unsafe {
            self.factory.createInstance(
                self.cid.as_ptr(),
                IComponent::IID.as_ptr().cast(),
                &mut obj,
            )
        };
        assert_eq!(result, kResultOk, "createInstance");
        let component = unsafe { ComPtr::from_raw(obj.cast::<IComponent>()) }.expect("component");
        assert_eq!(unsafe { component.initialize(ptr::null_mut()) }, kResultOk);
        component
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        #[cfg(all(unix, not(target_os = "macos")))]
        unsafe {
            if let Ok(exit) = self
                .lib
                .get::<unsafe extern "C" fn() -> bool>(b"ModuleExit")
            {
                exit();
            }
        }
    }
}

/// Hands `chunk` to the plugin as a host restores a project or preset.
fn set_state(component: &ComPtr<IComponent>, chunk: &[u8]) {
    let stream = MemoryStream::new(chunk.to_vec());
    let stream = stream.as_com_ref::<IBStream>().unwrap();
    assert_eq!(
        unsafe { component.setState(stream.as_ptr()) },
        kResultOk,
        "setState"
    );
}

/// An audio output bus for one block, its channels filled with noise that the plugin must
/// overwrite (the instrument's output is silence). No channels: no bus.
struct OutputBus {
    channels: Vec<Vec<f32>>,
    _pointers: Vec<*mut f32>,
    bus: AudioBusBuffers,
}

impl OutputBus {
    fn new(channels: usize, len: u32) -> Self {
        let mut channels = vec![vec![0.5f32; len as usize]; channels];
        let mut pointers: Vec<*mut f32> = channels.iter_mut().map(|c| c.as_mut_ptr()).collect();
        let bus = AudioBusBuffers {
            numChannels: channels.len() as int32,
            silenceFlags: 0,
            __field0: AudioBusBuffers__type0 {
                channelBuffers32: pointers.as_mut_ptr(),
            },
        };
        Self {
            channels,
            _pointers: pointers,
            bus,
        }
    }

    /// `ProcessData`'s `numOutputs` and `outputs`.
    fn buses(&mut self) -> (int32, *mut AudioBusBuffers) {
        if self.channels.is_empty() {
            (0, ptr::null_mut())
        } else {
            (1, &mut self.bus)
        }
    }

    fn assert_silent(&self) {
        assert!(
            self.channels.iter().flatten().all(|&x| x == 0.0),
            "the instrument's output is silence"
        );
    }
}

fn c_str(chars: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8(bytes).unwrap()
}

pub struct Session {
    // Field order is drop order: every COM pointer before the module.
    component: ComPtr<IComponent>,
    processor: ComPtr<IAudioProcessor>,
    pub controller: ComPtr<IEditController>,
    sample: u64,
    pub heard: Vec<Heard>,
    /// The mode of each block: `kRealtime`, or `kOffline` (a bounce or export).
    mode: int32,
    /// Samples per block.
    block_len: u32,
    /// Audio output channels (the instrument's silent stereo bus), checked for silence.
    outputs: usize,
    module: Module,
}

impl Session {
    /// A fresh instance, with `state` (a saved project chunk) restored before activation as
    /// hosts do when opening a project.
    /// A session that renders offline: the tests' virtual clock (see `HostSession::offline`).
    pub fn start(state: Option<&[u8]>) -> Self {
        Self::start_in(state, ProcessModes_::kOffline as int32)
    }

    /// [`Self::start`] in process mode `mode`.
    pub fn start_in(state: Option<&[u8]>, mode: int32) -> Self {
        Self::start_with(state, mode, mode, BLOCK)
    }

    /// A session set up for `setup_mode` whose blocks of `block_len` samples then say
    /// `block_mode`. Ardour's export does this: it sets up real-time processing and announces
    /// an offline render only in each block.
    pub fn start_with(
        state: Option<&[u8]>,
        setup_mode: int32,
        block_mode: int32,
        block_len: u32,
    ) -> Self {
        Self::start_class(EFFECT, state, setup_mode, block_mode, block_len)
    }

    /// [`Self::start_with`] for one of [`CLASSES`].
    pub fn start_class(
        class: usize,
        state: Option<&[u8]>,
        setup_mode: int32,
        block_mode: int32,
        block_len: u32,
    ) -> Self {
        let module = Module::load(class);
        let outputs = if class == INSTRUMENT { 2 } else { 0 };
        let component = module.create();
        let processor = component
            .cast::<IAudioProcessor>()
            .expect("IAudioProcessor");
        // nice-plug is a single-component plugin: the controller is the same object.
        let controller = component
            .cast::<IEditController>()
            .expect("IEditController");
        unsafe {
            use BusDirections_::*;
            use MediaTypes_::*;
            let (audio, event) = (kAudio as MediaType, kEvent as MediaType);
            let (input, output) = (kInput as BusDirection, kOutput as BusDirection);
            assert_eq!(component.getBusCount(audio, input), 0, "no audio in");
            let audio_out = i32::from(outputs > 0);
            assert_eq!(component.getBusCount(audio, output), audio_out, "audio out");
            if outputs > 0 {
                let (mut no_input, mut stereo) = (0, SpeakerArr::kStereo);
                assert_eq!(
                    processor.setBusArrangements(&mut no_input, 0, &mut stereo, 1),
                    kResultOk,
                    "a stereo output"
                );
                assert_eq!(component.activateBus(audio, output, 0, 1), kResultOk);
            }
            assert_eq!(component.getBusCount(event, input), 1, "MIDI in");
            assert_eq!(component.getBusCount(event, output), 1, "MIDI out");
            assert_eq!(component.activateBus(event, input, 0, 1), kResultOk);
            assert_eq!(component.activateBus(event, output, 0, 1), kResultOk);

            if let Some(state) = state {
                set_state(&component, state);
            }

            let mut setup = ProcessSetup {
                processMode: setup_mode,
                symbolicSampleSize: SymbolicSampleSizes_::kSample32 as int32,
                maxSamplesPerBlock: block_len as int32,
                sampleRate: SAMPLE_RATE,
            };
            assert_eq!(processor.setupProcessing(&mut setup), kResultOk);
            assert_eq!(component.setActive(1), kResultOk, "setActive");
            assert_eq!(processor.setProcessing(1), kResultOk, "setProcessing");
        }
        Self {
            component,
            processor,
            controller,
            sample: 0,
            heard: Vec::new(),
            mode: block_mode,
            block_len,
            outputs,
            module,
        }
    }

    /// One block whose only input is parameter changes by raw id and normalized value, as a
    /// host sends when it restores a project. Returns how many events the plugin sent out.
    pub fn block_len(&self) -> u32 {
        self.block_len
    }

    pub fn restore_params(&mut self, changes: &[(u32, f64)]) -> usize {
        let mut context: ProcessContext = unsafe { std::mem::zeroed() };
        context.state = (kTempoValid | kProjectTimeMusicValid) as u32;
        context.sampleRate = SAMPLE_RATE;
        context.tempo = TEMPO;
        let queues = changes
            .iter()
            .map(|&(id, normalized)| {
                ComWrapper::new(ParamQueue {
                    id,
                    points: vec![(0, normalized)],
                })
            })
            .collect();
        let changes = ComWrapper::new(ParamChanges { queues });
        let input = EventList::new(Vec::new());
        let output = EventList::new(Vec::new());
        let mut bus = OutputBus::new(self.outputs, self.block_len);
        let (num_outputs, outputs) = bus.buses();
        let mut data = ProcessData {
            processMode: self.mode,
            symbolicSampleSize: SymbolicSampleSizes_::kSample32 as int32,
            numSamples: self.block_len as int32,
            numInputs: 0,
            numOutputs: num_outputs,
            inputs: ptr::null_mut(),
            outputs,
            inputParameterChanges: changes.as_com_ref::<IParameterChanges>().unwrap().as_ptr(),
            outputParameterChanges: ptr::null_mut(),
            inputEvents: input.as_com_ref::<IEventList>().unwrap().as_ptr(),
            outputEvents: output.as_com_ref::<IEventList>().unwrap().as_ptr(),
            processContext: &mut context,
        };
        assert_eq!(unsafe { self.processor.process(&mut data) }, kResultOk);
        bus.assert_silent();
        self.sample += u64::from(self.block_len);
        let n = output.events.lock().unwrap().len();
        n
    }

    /// The project chunk a host would save now.
    pub fn save(&self) -> Vec<u8> {
        let stream = MemoryStream::new(Vec::new());
        let com = stream.as_com_ref::<IBStream>().unwrap();
        assert_eq!(unsafe { self.component.getState(com.as_ptr()) }, kResultOk);
        stream.bytes()
    }

    pub fn plain(&self, id: &str) -> f64 {
        let id = param_id(id);
        unsafe {
            self.controller
                .normalizedParamToPlain(id, self.controller.getParamNormalized(id))
        }
    }

    /// What the host's generic parameter list shows for `id` at its current value.
    pub fn display(&self, id: &str) -> String {
        let id = param_id(id);
        let mut text: String128 = [0; 128];
        unsafe {
            let value = self.controller.getParamNormalized(id);
            assert_eq!(
                self.controller.getParamStringByValue(id, value, &mut text),
                kResultOk
            );
        }
        let len = text.iter().position(|&c| c == 0).unwrap_or(text.len());
        String::from_utf16_lossy(&text[..len])
    }

    /// Loads a project chunk into the running instance, as a host does when the user picks
    /// a preset or undoes a change.
    pub fn load(&self, chunk: &[u8]) {
        set_state(&self.component, chunk);
    }

    /// What hosts do to suspend a plugin (e.g. when the track is disabled) and resume it.
    pub fn suspend_and_resume(&self) {
        unsafe {
            assert_eq!(self.processor.setProcessing(0), kResultOk);
            assert_eq!(self.component.setActive(0), kResultOk);
            assert_eq!(self.component.setActive(1), kResultOk);
            assert_eq!(self.processor.setProcessing(1), kResultOk);
        }
    }

    pub fn finish(self) -> Vec<Heard> {
        unsafe {
            assert_eq!(self.processor.setProcessing(0), kResultOk);
            assert_eq!(self.component.setActive(0), kResultOk);
            assert_eq!(self.component.terminate(), kResultOk);
        }
        let _ = &self.module;
        self.heard
    }
}

impl HostSession for Session {
    fn offline(&self) -> bool {
        self.mode == ProcessModes_::kOffline as int32
    }

    /// (parameter id, plain value as the plugin shows it; the session normalizes it through
    /// the controller as a host does).
    type Param = (&'static str, f64);

    fn sample(&self) -> u64 {
        self.sample
    }

    fn heard(&self) -> &[Heard] {
        &self.heard
    }

    fn block(&mut self, playing: bool, params: &[(&'static str, f64)], notes: &[(u32, u8, u8)]) {
        let beat = self.sample as f64 / SAMPLES_PER_BEAT;
        let mut context: ProcessContext = unsafe { std::mem::zeroed() };
        context.state = (kTempoValid
            | kProjectTimeMusicValid
            | kBarPositionValid
            | kTimeSigValid
            | if playing { kPlaying } else { 0 }) as u32;
        context.sampleRate = SAMPLE_RATE;
        context.projectTimeSamples = self.sample as i64;
        context.continousTimeSamples = self.sample as i64;
        context.projectTimeMusic = beat;
        context.barPositionMusic = (beat / 4.0).floor() * 4.0;
        context.tempo = TEMPO;
        context.timeSigNumerator = 4;
        context.timeSigDenominator = 4;

        let queues = params
            .iter()
            .map(|&(name, plain)| {
                let id = param_id(name);
                let normalized = unsafe { self.controller.plainParamToNormalized(id, plain) };
                ComWrapper::new(ParamQueue {
                    id,
                    points: vec![(0, normalized)],
                })
            })
            .collect();
        let changes = ComWrapper::new(ParamChanges { queues });

        let input = EventList::new(
            notes
                .iter()
                .map(|&(offset, pitch, velocity)| note_event(offset, pitch, velocity))
                .collect(),
        );
        let output = EventList::new(Vec::new());

        let mut bus = OutputBus::new(self.outputs, self.block_len);
        let (num_outputs, outputs) = bus.buses();
        let mut data = ProcessData {
            processMode: self.mode,
            symbolicSampleSize: SymbolicSampleSizes_::kSample32 as int32,
            numSamples: self.block_len as int32,
            numInputs: 0,
            numOutputs: num_outputs,
            inputs: ptr::null_mut(),
            outputs,
            inputParameterChanges: changes.as_com_ref::<IParameterChanges>().unwrap().as_ptr(),
            outputParameterChanges: ptr::null_mut(),
            inputEvents: input.as_com_ref::<IEventList>().unwrap().as_ptr(),
            outputEvents: output.as_com_ref::<IEventList>().unwrap().as_ptr(),
            processContext: &mut context,
        };
        assert_eq!(unsafe { self.processor.process(&mut data) }, kResultOk);
        bus.assert_silent();

        let mut last_offset = 0;
        for event in output.events.lock().unwrap().iter() {
            let offset = event.sampleOffset;
            assert!(
                offset >= last_offset && offset < self.block_len as i32,
                "events out of order or outside the block"
            );
            last_offset = offset;
            let (channel, pitch, velocity) = match event.r#type as Event_::EventTypes {
                kNoteOnEvent => {
                    let e = unsafe { event.__field0.noteOn };
                    (e.channel, e.pitch, (e.velocity * 127.0).round() as u8)
                }
                kNoteOffEvent => {
                    let e = unsafe { event.__field0.noteOff };
                    (e.channel, e.pitch, 0)
                }
                _ => continue,
            };
            self.heard.push(Heard {
                sample: self.sample + offset as u64,
                channel: u8::try_from(channel).expect("a specific channel"),
                pitch: u8::try_from(pitch).expect("a specific pitch"),
                velocity,
            });
        }
        self.sample += u64::from(self.block_len);
    }
}

fn note_event(offset: u32, pitch: u8, velocity: u8) -> Event {
    let mut e: Event = unsafe { std::mem::zeroed() };
    e.busIndex = 0;
    e.sampleOffset = offset as int32;
    e.flags = Event_::EventFlags_::kIsLive as u16;
    if velocity > 0 {
        e.r#type = kNoteOnEvent as u16;
        e.__field0.noteOn = NoteOnEvent {
            channel: 0,
            pitch: i16::from(pitch),
            tuning: 0.0,
            velocity: f32::from(velocity) / 127.0,
            length: 0,
            noteId: -1,
        };
    } else {
        e.r#type = kNoteOffEvent as u16;
        e.__field0.noteOff = NoteOffEvent {
            channel: 0,
            pitch: i16::from(pitch),
            velocity: 0.0,
            noteId: -1,
            tuning: 0.0,
        };
    }
    e
}
