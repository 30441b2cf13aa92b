-- Drives Ardour's headless Lua interpreter for `cargo xtask ardour`:
--   ardour7-lua continuo.lua record <session dir> <buffer size>
--   ardour7-lua continuo.lua reopen <session dir> <buffer size>
--   ardour7-lua continuo.lua export <session dir> <buffer size> <export dir>
--   ardour7-lua continuo.lua bounce <session dir> <buffer size>
-- Timeline positions (in samples) come from the environment, so the xtask alone defines the
-- scenario. Lines for the xtask start with "CONTINUO "; everything else is Ardour's.

local stage, dir, buffer, export_dir = arg[1], arg[2], tonumber (arg[3]), arg[4]
local NAME = "continuo"
local RATE = 48000
local CONTINUO_UID = os.getenv ("CONTINUO_VST3_UID")
local PHRASE_UNTIL = tonumber (os.getenv ("CONTINUO_PHRASE_UNTIL"))
local RECORD_UNTIL = tonumber (os.getenv ("CONTINUO_RECORD_UNTIL"))
local QUIET_UNTIL = tonumber (os.getenv ("CONTINUO_QUIET_UNTIL"))
-- "name=value,name=value": Continuo's parameters by label, as plain values
local PARAMS = os.getenv ("CONTINUO_PARAMS")
local EXPORT_PRESET = os.getenv ("CONTINUO_EXPORT_PRESET")
local TRS = ARDOUR.TransportRequestSource.TRS_UI

local function say (...)
	print ("CONTINUO " .. table.concat ({ ... }, " "))
	-- Ardour's known crashes on teardown would otherwise swallow what is still buffered.
	io.stdout:flush ()
end

-- The interpreter closes an open session itself when the script ends in an error.
local function fail (why)
	say ("FAIL", why)
	error (why)
end

local function wait_for (what, cond, seconds)
	local waited = 0
	while not cond () do
		if waited > seconds then
			fail ("timed out waiting for " .. what)
		end
		sleep (0.02)
		waited = waited + 0.02
	end
end

local function backend ()
	local be = AudioEngine:set_backend ("None (Dummy)", "", "")
	if not be or be:isnil () then
		fail ("no Dummy backend")
	end
	be:set_buffer_size (buffer)
	be:set_sample_rate (RATE)
end

-- The session the record stage saved, on the Dummy backend at this stage's buffer size.
local function open_saved ()
	backend ()
	if not load_session (dir, NAME) then
		fail ("could not load the session in " .. dir)
	end
end

local function track (name)
	for r in Session:get_routes ():iter () do
		if r:name () == name then
			return r:to_track ():to_midi_track ()
		end
	end
	fail ("no track " .. name)
end

local function new_midi_track (name)
	local midi = ARDOUR.ChanCount (ARDOUR.DataType ("midi"), 1)
	local tl = Session:new_midi_track (midi, midi, false, ARDOUR.PluginInfo (), nil, nil, 1, name,
		ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, false, true)
	if tl:empty () then
		fail ("could not add track " .. name)
	end
	return tl:front ():to_track ():to_midi_track ()
end

local function continuo (t)
	for i = 0, 16 do
		local p = t:nth_plugin (i)
		if p:isnil () then
			break
		end
		if p:to_plugininsert ():plugin (0):unique_id () == CONTINUO_UID then
			return p
		end
	end
	fail ("no Continuo on " .. t:name ())
end

-- Continuo's parameters by label, as the index `LuaAPI.set_processor_param` takes.
local function param_indices (proc)
	local plug = proc:to_plugininsert ():plugin (0)
	local found, n = {}, 0
	for i = 0, plug:parameter_count () - 1 do
		if plug:parameter_is_input (i) then
			found[plug:parameter_label (i)] = n
			n = n + 1
		end
	end
	return found
end

local function report_params (proc)
	local idx = param_indices (proc)
	for kv in string.gmatch (PARAMS, "[^,]+") do
		local label = kv:match ("^(.-)=")
		local value = ARDOUR.LuaAPI.get_processor_param (proc, idx[label], true)
		say ("PARAM", (label:gsub (" ", "_")), value)
	end
end

local function connect (from, to)
	from:output ():disconnect_all (nil)
	to:input ():disconnect_all (nil)
	if from:output ():nth (0):connect (to:input ():nth (0):name ()) ~= 0 then
		fail ("could not connect " .. from:name () .. " to " .. to:name ())
	end
end

local function region_count (t)
	local n = 0
	for _ in t:playlist ():region_list ():iter () do
		n = n + 1
	end
	return n
end

-- Rolls from the session start until `until_sample`, in real time, recording on `armed`.
-- With `expect_take`, waits for the first armed track's new region: the butler makes it from
-- the capture after the stop.
local function roll (armed, until_sample, expect_take)
	local regions = #armed > 0 and region_count (armed[1]) or 0
	Session:request_locate (0, false, ARDOUR.LocateTransportDisposition.MustStop, TRS)
	wait_for ("the locate", function () return Session:transport_sample () == 0 and not Session:transport_rolling () end, 10)
	for _, t in ipairs (armed) do
		t:rec_enable_control ():set_value (1, PBD.GroupControlDisposition.NoGroup)
	end
	if #armed > 0 then
		Session:maybe_enable_record (false)
	end
	Session:request_roll (TRS)
	wait_for ("the transport to roll", function () return Session:transport_rolling () end, 10)
	wait_for ("the transport to reach " .. until_sample, function () return Session:transport_sample () >= until_sample end, 120)
	Session:request_stop (false, false, TRS)
	wait_for ("the transport to stop", function () return not Session:transport_rolling () end, 10)
	Session:disable_record (false, false)
	for _, t in ipairs (armed) do
		t:rec_enable_control ():set_value (0, PBD.GroupControlDisposition.NoGroup)
	end
	if expect_take then
		wait_for ("the recorded region", function () return region_count (armed[1]) > regions end, 60)
	else
		-- A capture of silence makes no region, so there is nothing to wait for but the time
		-- the butler takes to make one; a late one would show up in the next take.
		sleep (2)
	end
end

-- Temporal.Beats shows itself only as "beats:ticks" in Lua.
local function beats (b)
	local whole, ticks = b:str ():match ("^(-?%d+):(-?%d+)$")
	return tonumber (whole) + tonumber (ticks) / Temporal.ticks_per_beat
end

local function region_names (t)
	local names = {}
	for r in t:playlist ():region_list ():iter () do
		names[r:name ()] = true
	end
	return names
end

-- Every note of a MIDI region, in beats from the session start:
-- "CONTINUO NOTE <label> <start beat> <end beat> <channel 1-16> <pitch> <velocity>".
local function report_region (label, r)
	local offset = beats (r:position ():beats ()) - beats (r:start ():beats ())
	for n in ARDOUR.LuaAPI.note_list (r:to_midiregion ():model ()):iter () do
		local on = offset + beats (n:time ())
		say ("NOTE", label, string.format ("%.6f %.6f", on, on + beats (n:length ())),
			n:channel () + 1, n:note (), n:velocity ())
	end
	say ("REGION", label, r:name ())
end

-- The regions on `t` whose names are not in `before`.
local function report_notes (label, t, before)
	for r in t:playlist ():region_list ():iter () do
		if not before[r:name ()] then
			report_region (label, r)
		end
	end
end

local function ardour_tempo ()
	local tm = Temporal.TempoMap.read ()
	local t = tm:tempo_at (Temporal.timepos_t (0))
	say ("TEMPO", t:note_types_per_minute (), "SAMPLES_PER_BEAT", tm:sample_at_beats (Temporal.Beats (1, 0), RATE))
end

if stage == "record" then
	backend ()
	if not create_session (dir, NAME, RATE) then
		fail ("could not create the session in " .. dir)
	end
	ardour_tempo ()
	local player = new_midi_track ("Player")
	local phrase = new_midi_track ("Phrase")
	local take = new_midi_track ("Take")

	-- The phrase is recorded into a region first, so that Continuo then hears it the way a
	-- user's region plays: from the disk reader.
	local gen = ARDOUR.LuaAPI.new_plugin (Session, "Continuo Check Phrase", ARDOUR.PluginType.Lua, "")
	if gen:isnil () or player:add_processor_by_index (gen, 0, nil, true) ~= 0 then
		fail ("could not add the phrase player")
	end
	connect (player, phrase)
	roll ({ phrase }, PHRASE_UNTIL, true)
	-- Lua cannot remove a route; a silent, unconnected, inactive one stays in the session.
	player:remove_processor (gen, nil, true)
	player:output ():disconnect_all (nil)
	player:set_active (false, nil)
	report_notes ("phrase", phrase, {})

	local proc = ARDOUR.LuaAPI.new_plugin (Session, CONTINUO_UID, ARDOUR.PluginType.VST3, "")
	if proc:isnil () then
		fail ("Ardour found no Continuo VST3 (uid " .. CONTINUO_UID .. ")")
	end
	if phrase:add_processor_by_index (proc, 0, nil, true) ~= 0 then
		fail ("could not add Continuo to the track")
	end
	local idx = param_indices (proc)
	for kv in string.gmatch (PARAMS, "[^,]+") do
		local label, value = kv:match ("^(.-)=(.*)$")
		if not idx[label] or not ARDOUR.LuaAPI.set_processor_param (proc, idx[label], tonumber (value)) then
			fail ("could not set " .. label)
		end
	end
	report_params (proc)

	connect (phrase, take)
	local before = region_names (take)
	roll ({ take }, RECORD_UNTIL, true)
	report_notes ("answer", take, before)
	Session:save_state ("", false, false, false, false, false)
	say ("SAVED")
	close_session ()
elseif stage == "reopen" then
	open_saved ()
	local take = track ("Take")
	report_params (continuo (track ("Phrase")))
	-- Before the phrase: nothing but silence may reach the recording track.
	local before = region_names (take)
	roll ({ take }, QUIET_UNTIL, false)
	report_notes ("quiet", take, before)
	before = region_names (take)
	roll ({ take }, RECORD_UNTIL, true)
	report_notes ("again", take, before)
	close_session ()
elseif stage == "export" then
	open_saved ()
	local phrase = track ("Phrase")
	local proc = continuo (phrase)
	local enc = ARDOUR.LuaAPI.new_plugin (Session, "Continuo Check Encoder", ARDOUR.PluginType.Lua, "")
	if enc:isnil () or phrase:add_processor_by_index (enc, 1, nil, true) ~= 0 then
		fail ("could not add the encoder after Continuo")
	end
	local out = phrase:output ()
	-- Ardour gives the track audio outputs, connected to the master bus, for the encoder's.
	if out:n_ports ():n_audio () ~= 2 then
		fail ("the track has " .. out:n_ports ():n_audio () .. " audio outputs, not 2")
	end
	local ex = Session:simple_export ()
	ex:set_name ("answer-" .. buffer)
	ex:set_folder (export_dir)
	ex:set_range (0, RECORD_UNTIL)
	if not ex:set_preset (EXPORT_PRESET) then
		fail ("no export preset " .. EXPORT_PRESET)
	end
	if not ex:run_export () then
		fail ("the export failed")
	end
	say ("EXPORTED", buffer)
	say ("DISORDER", enc:to_plugininsert ():plugin (0):to_luaproc ():shmem ():atomic_get_int (0))
	close_session ()
elseif stage == "bounce" then
	-- "Bounce with processing" up to Continuo, into a new MIDI region; reported, not judged.
	open_saved ()
	local phrase = track ("Phrase")
	local proc = continuo (phrase)
	say ("BOUNCEABLE", tostring (phrase:bounceable (proc, true)))
	local region = phrase:bounce_range (0, RECORD_UNTIL, ARDOUR.InterThreadInfo (), proc, true, "bounce")
	if region:isnil () then
		say ("BOUNCED", "nothing")
	else
		report_region ("bounce", region)
	end
	close_session ()
else
	fail ("unknown stage " .. tostring (stage))
end
say ("DONE", stage)
