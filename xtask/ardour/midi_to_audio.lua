ardour {
	["type"]    = "dsp",
	name        = "Continuo Check Encoder",
	category    = "Utility",
	license     = "MIT",
	author      = "Continuo developers",
	description = [[Writes each note-on and note-off it receives into the audio, one event a sample, so that an audio export carries the MIDI exactly]]
}

-- Left channel: +code for a note-on, -code for a note-off, code = (channel * 128 + note + 1) / 4096,
-- exact in 32-bit float. Right channel: how many samples later than its own the event was
-- written (events that share a sample queue up one a sample), / 1024.

function dsp_ioconfig ()
	return { { midi_in = 1, midi_out = 0, audio_in = 0, audio_out = 2 } }
end

local pending = {}

function dsp_init (rate)
	-- [0]: how many events came in earlier than the one before them in the same cycle
	self:shmem ():allocate (1)
	self:shmem ():clear ()
end

function dsp_run (_, outs, n_samples)
	for c = 1, #outs do
		ARDOUR.DSP.memset (outs[c], 0, n_samples)
	end
	local last = 0
	for _, b in ipairs (midiin) do
		if b["time"] < last then
			self:shmem ():atomic_set_int (0, self:shmem ():atomic_get_int (0) + 1)
		end
		last = b["time"]
		local d = b["data"]
		local kind = #d == 3 and (d[1] & 0xf0) or 0
		if kind == 0x90 or kind == 0x80 then
			local code = ((d[1] & 0x0f) * 128 + d[2] + 1) / 4096
			if kind == 0x80 or d[3] == 0 then
				code = -code
			end
			pending[#pending + 1] = { code, b["time"] - 1 }
		end
	end
	local left = outs[1]:array ()
	local right = outs[2]:array ()
	local free = 0
	local later = {}
	for _, e in ipairs (pending) do
		local at = math.max (e[2], free)
		if at < n_samples then
			left[at + 1] = e[1]
			right[at + 1] = (at - e[2]) / 1024
			free = at + 1
		else
			later[#later + 1] = { e[1], e[2] - n_samples }
		end
	end
	pending = later
end
