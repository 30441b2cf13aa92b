ardour {
	["type"]    = "dsp",
	name        = "Continuo Check Phrase",
	category    = "Utility",
	license     = "MIT",
	author      = "Continuo developers",
	description = [[Plays a fixed phrase at fixed transport positions, to be recorded into a MIDI region]]
}

-- { transport sample, status, note, velocity }, sorted; the xtask puts the phrase here
PHRASE = {}

function dsp_ioconfig ()
	return { { midi_in = 1, midi_out = 1, audio_in = 0, audio_out = 0 } }
end

function dsp_run (_, _, n_samples)
	local out = 1
	if not Session:transport_rolling () then
		return
	end
	-- The transport position of this cycle's first sample: the phrase is written against
	-- the timeline, so a recording of it lands where the phrase says.
	local start = Session:transport_sample ()
	for _, e in ipairs (PHRASE) do
		if e[1] >= start and e[1] < start + n_samples then
			midiout[out] = { time = e[1] - start + 1, data = { e[2], e[3], e[4] } }
			out = out + 1
		end
	end
end
