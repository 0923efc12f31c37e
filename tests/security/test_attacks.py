"""Every known way to make ffmpeg read, write or burn what it should not is refused at register.

One table per category. Each row is a command, its declared inputs, its output and a piece of
the error message (which must name the offending token). Registration must raise
InvalidTaskError (also a ValueError) before anything is fetched, run or stored.
"""

from __future__ import annotations

import pytest

from ffmpeg_tasks import InvalidTaskError

from ._support import fakes, url

pytestmark = pytest.mark.anyio

Row = tuple[str, list[str], str, str]


def _rows(*rows: Row) -> list[object]:
    return [pytest.param(*row, id=row[0][:60]) for row in rows]


async def _assert_refused(command: str, inputs: list[str], output: str, message: str) -> None:
    env = fakes()
    files = {name: url(name) for name in inputs}
    with pytest.raises(InvalidTaskError) as info:
        await env.manager.register(command, files, output)
    assert isinstance(info.value, ValueError)
    assert message in str(info.value), str(info.value)
    assert env.fetcher.fetched == []
    assert env.runner.calls == []
    assert await env.manager.list() == []


# -- 1. inputs that are not the declared files ----------------------------------------------------

UNDECLARED_INPUTS = _rows(
    ("-i /etc/passwd out.mp4", ["a.mp4"], "out.mp4", "'/etc/passwd' is used by the command"),
    ("-i file:a.mp4 out.mp4", ["file:a.mp4"], "out.mp4", "must not contain ':'"),
    ("-i concat:a.mp4|b.mp4 out.mp4", ["concat:a.mp4|b.mp4"], "out.mp4", "':'"),
    ("-i subfile,,start,0,end,9,,:a.mp4 out.mp4", ["subfile,,start,0,end,9,,:a.mp4"], "out.mp4", "':'"),
    ("-i pipe:0 out.mp4", ["pipe:0"], "out.mp4", "':'"),
    ("-i fd:3 out.mp4", ["fd:3"], "out.mp4", "':'"),
    ("-i http://10.0.0.1/a.mp4 out.mp4", ["http://10.0.0.1/a.mp4"], "out.mp4", "'/'"),
    ("-i ../a.mp4 out.mp4", ["../a.mp4"], "out.mp4", "plain file name"),
    ("-i .hidden.mp4 out.mp4", [".hidden.mp4"], "out.mp4", "must start with a letter or digit"),
    ("-i a%d.png out.mp4", ["a%d.png"], "out.mp4", "only letters, digits"),
    ("-i a*.png out.mp4", ["a*.png"], "out.mp4", "only letters, digits"),
    ("-i 'a b.mp4' out.mp4", ["a b.mp4"], "out.mp4", "only letters, digits"),
    ("-i a.m3u8 out.mp4", ["a.m3u8"], "out.mp4", "'a.m3u8' must end with one of"),
    ("-i list.txt out.mp4", ["list.txt"], "out.mp4", "'list.txt' must end with one of"),
    ("-i a.ffconcat out.mp4", ["a.ffconcat"], "out.mp4", "must end with one of"),
    ("-i a.sdp out.mp4", ["a.sdp"], "out.mp4", "must end with one of"),
    ("-i a.mpd out.mp4", ["a.mpd"], "out.mp4", "must end with one of"),
    ("-i noextension out.mp4", ["noextension"], "out.mp4", "must end with one of"),
    ("-f lavfi -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "value 'lavfi' of -f"),
    ("-f concat -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "value 'concat' of -f"),
    ("-f hls -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "value 'hls' of -f"),
    ("-f dash -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "value 'dash' of -f"),
    ("-f sdp -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "value 'sdp' of -f"),
    ("-f x11grab -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "value 'x11grab' of -f"),
    ("-f v4l2 -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "value 'v4l2' of -f"),
    ("-f alsa -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "value 'alsa' of -f"),
    ("-f rtsp -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "value 'rtsp' of -f"),
    ("-f image2pipe -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "value 'image2pipe' of -f"),
    ("-i a.mp4 -i b.mp4 out.mp4", ["a.mp4"], "out.mp4", "'b.mp4' is used by the command"),
    ("-i a.mp4 -vf movie=b.mp4 out.mp4", ["a.mp4", "b.mp4"], "out.mp4", "filter 'movie'"),
    # Source filters make input out of nothing.
    ("-i a.mp4 -filter_complex testsrc=size=99x99[v] -map [v] out.mp4", ["a.mp4"], "out.mp4",
     "filter 'testsrc' is not allowed (in -filter_complex"),
    ("-i a.mp4 -filter_complex color=red[v] -map [v] out.mp4", ["a.mp4"], "out.mp4", "filter 'color'"),
    ("-i a.mp4 -filter_complex anullsrc[a] -map [a] out.mp4", ["a.mp4"], "out.mp4", "filter 'anullsrc'"),
    ("-i a.mp4 -filter_complex sine[a] -map [a] out.mp4", ["a.mp4"], "out.mp4", "filter 'sine'"),
    ("-i a.mp4 -lavfi nullsrc[v] -map [v] out.mp4", ["a.mp4"], "out.mp4", "filter 'nullsrc'"),
    ("-i a.mp4 -vf mandelbrot out.mp4", ["a.mp4"], "out.mp4", "filter 'mandelbrot'"),
    ("-i a.mp4 -filter_complex [2:v]null[v] -map [v] out.mp4", ["a.mp4"], "out.mp4",
     "names input 2, but the command has 1 input(s)"),
    ("-i a.mp4 -map 3:v out.mp4", ["a.mp4"], "out.mp4", "names input 3"),
)  # fmt: skip


@pytest.mark.parametrize(("command", "inputs", "output", "message"), UNDECLARED_INPUTS)
async def test_inputs_other_than_the_declared_files_are_refused(
    command: str, inputs: list[str], output: str, message: str
) -> None:
    await _assert_refused(command, inputs, output, message)


# -- 2. filters and options that open files or URLs ---------------------------------------------

FILE_READERS = _rows(
    ("-i a.mp4 -vf movie=/etc/passwd out.mp4", ["a.mp4"], "out.mp4",
     "filter 'movie' is not allowed (in -vf 'movie=/etc/passwd')"),
    ("-i a.mp4 -vf 'm\\ovie=/etc/passwd' out.mp4", ["a.mp4"], "out.mp4", "filter 'movie'"),
    ("-i a.mp4 -vf \"'movie'=/etc/passwd\" out.mp4", ["a.mp4"], "out.mp4", "filter 'movie'"),
    ("-i a.mp4 -vf \"'mo''vie'=x\" out.mp4", ["a.mp4"], "out.mp4", "filter 'movie'"),
    ("-i a.mp4 -vf movie@x=/etc/passwd out.mp4", ["a.mp4"], "out.mp4", "filter 'movie'"),
    ("-i a.mp4 -vf ' movie =/etc/passwd' out.mp4", ["a.mp4"], "out.mp4", "filter 'movie'"),
    ("-i a.mp4 -vf hflip,movie=/etc/passwd out.mp4", ["a.mp4"], "out.mp4", "filter 'movie'"),
    ("-i a.mp4 -filter_complex 'amovie=/etc/passwd[a]' -map [a] out.mp4", ["a.mp4"], "out.mp4",
     "filter 'amovie'"),
    ("-i a.mp4 -vf drawtext=textfile=/etc/passwd out.mp4", ["a.mp4"], "out.mp4", "filter 'drawtext'"),
    ("-i a.mp4 -vf drawtext=fontfile=/etc/x:text=hi out.mp4", ["a.mp4"], "out.mp4", "filter 'drawtext'"),
    ("-i a.mp4 -vf subtitles=/etc/passwd out.mp4", ["a.mp4"], "out.mp4", "filter 'subtitles'"),
    ("-i a.mp4 -vf ass=/etc/passwd out.mp4", ["a.mp4"], "out.mp4", "filter 'ass'"),
    ("-i a.mp4 -vf sendcmd=f=/etc/passwd out.mp4", ["a.mp4"], "out.mp4", "filter 'sendcmd'"),
    ("-i a.mp4 -af asendcmd=f=/etc/passwd out.mp4", ["a.mp4"], "out.mp4", "filter 'asendcmd'"),
    ("-i a.mp4 -vf lut3d=/etc/passwd out.mp4", ["a.mp4"], "out.mp4", "filter 'lut3d'"),
    ("-i a.mp4 -vf frei0r=x out.mp4", ["a.mp4"], "out.mp4", "filter 'frei0r'"),
    ("-i a.mp4 -af arnndn=m=/etc/passwd out.mp4", ["a.mp4"], "out.mp4", "filter 'arnndn'"),
    ("-i a.mp4 -vf zmq out.mp4", ["a.mp4"], "out.mp4", "filter 'zmq'"),
    ("-i a.mp4 -vf signature=filename=/tmp/x out.mp4", ["a.mp4"], "out.mp4", "filter 'signature'"),
    # Since ffmpeg 7 a filter option key starting with '/' loads its value from a path or URL.
    ("-i a.mp4 -vf drawbox=/color=/etc/passwd out.mp4", ["a.mp4"], "out.mp4",
     "filter option '/color' of 'drawbox' is not allowed: a key starting with '/'"),
    ("-i a.mp4 -vf \"drawbox='/color'=/etc/passwd\" out.mp4", ["a.mp4"], "out.mp4", "'/color'"),
    ("-i a.mp4 -vf 'drawbox=\\/color=/etc/passwd' out.mp4", ["a.mp4"], "out.mp4", "'/color'"),
    ("-i a.mp4 -vf 'scale= /w =/etc/passwd' out.mp4", ["a.mp4"], "out.mp4", "'/w'"),
    ("-i a.mp4 -vf 'scale=1:/h=/etc/passwd' out.mp4", ["a.mp4"], "out.mp4", "'/h'"),
    # Options of allowed filters that read or write files are not in the allow-list.
    ("-i a.mp4 -af loudnorm=stats_file=/tmp/x out.mp4", ["a.mp4"], "out.mp4",
     "option 'stats_file' of filter 'loudnorm' is not allowed"),
    (("-i a.mp4 -filter_complex '[0:v]split[a][b];[a]palettegen[p];[b][p]paletteuse="
     "debug_kdtree=/tmp/x' out.gif"), ["a.mp4"], "out.gif", "option 'debug_kdtree'"),
    # ... and so is every '-/option', which loads the option's value from a file.
    ("-i a.mp4 -/filter_complex /etc/passwd out.mp4", ["a.mp4"], "out.mp4",
     "option '-/filter_complex' is not allowed: a '-/' option loads its value from a file"),
    ("-i a.mp4 -/vf /etc/passwd out.mp4", ["a.mp4"], "out.mp4", "'-/vf'"),
    ("-i a.mp4 -/metadata /etc/passwd out.mp4", ["a.mp4"], "out.mp4", "'-/metadata'"),
    ("-i a.mp4 -filter_complex_script /etc/passwd out.mp4", ["a.mp4"], "out.mp4",
     "option '-filter_complex_script' is not allowed"),
    ("-i a.mp4 -filter_script:v /etc/passwd out.mp4", ["a.mp4"], "out.mp4", "'-filter_script:v'"),
    ("-i a.mp4 -fpre /etc/passwd out.mp4", ["a.mp4"], "out.mp4", "'-fpre'"),
    ("-i a.mp4 -vpre x out.mp4", ["a.mp4"], "out.mp4", "'-vpre'"),
    ("-i a.mp4 -x264-params stats=/tmp/x out.mp4", ["a.mp4"], "out.mp4", "'-x264-params'"),
    ("-enable_drefs 1 -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "'-enable_drefs'"),
    ("-safe 0 -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "'-safe'"),
    ("-hwaccel vaapi -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "'-hwaccel'"),
    ("-init_hw_device vaapi=x:/dev/dri/renderD128 -i a.mp4 out.mp4", ["a.mp4"], "out.mp4",
     "'-init_hw_device'"),
)  # fmt: skip


@pytest.mark.parametrize(("command", "inputs", "output", "message"), FILE_READERS)
async def test_filters_and_options_that_open_files_are_refused(
    command: str, inputs: list[str], output: str, message: str
) -> None:
    await _assert_refused(command, inputs, output, message)


# -- 3. a caller's own copy of the options the server places -------------------------------------

SERVER_OPTIONS = _rows(
    ("-protocol_whitelist file,http,tcp -i a.mp4 out.mp4", ["a.mp4"], "out.mp4",
     "option '-protocol_whitelist' is not allowed (the server sets it itself)"),
    ("-format_whitelist hls,mpegts -i a.mp4 out.mp4", ["a.mp4"], "out.mp4",
     "option '-format_whitelist' is not allowed (the server sets it itself)"),
    ("-i a.mp4 -protocol_whitelist file,http out.mp4", ["a.mp4"], "out.mp4",
     "'-protocol_whitelist'"),
    ("-codec_whitelist h264 -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "'-codec_whitelist'"),
    ("-protocol_blacklist none -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "'-protocol_blacklist'"),
    ("-i a.mp4 -fs 99999999999 out.mp4", ["a.mp4"], "out.mp4",
     "option '-fs' is not allowed (the server sets it itself)"),
    ("-max_pixels 999999999 -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "'-max_pixels'"),
    ("-i a.mp4 -threads 0 out.mp4", ["a.mp4"], "out.mp4",
     "value '0' of -threads must be an integer from 1 to 4"),
)  # fmt: skip


@pytest.mark.parametrize(("command", "inputs", "output", "message"), SERVER_OPTIONS)
async def test_a_callers_copy_of_server_options_is_refused(
    command: str, inputs: list[str], output: str, message: str
) -> None:
    await _assert_refused(command, inputs, output, message)


# -- 4. writes outside the work folder ---------------------------------------------------------

OUTSIDE_WRITES = _rows(
    ("-i a.mp4 /tmp/out.mp4", ["a.mp4"], "/tmp/out.mp4", "plain file name"),
    ("-i a.mp4 file:out.mp4", ["a.mp4"], "file:out.mp4", "':'"),
    ("-i a.mp4 -f tee '[f=mp4]/tmp/x.mp4|out.mp4'", ["a.mp4"], "out.mp4", "does not appear"),
    ("-i a.mp4 -f tee out.mp4", ["a.mp4"], "out.mp4", "value 'tee' of -f is not allowed"),
    ("-i a.mp4 -f segment out.mp4", ["a.mp4"], "out.mp4", "value 'segment' of -f"),
    ("-i a.mp4 -f hls out.mp4", ["a.mp4"], "out.mp4", "value 'hls' of -f"),
    ("-i a.mp4 -f dash out.mp4", ["a.mp4"], "out.mp4", "value 'dash' of -f"),
    ("-i a.mp4 -f image2 out%03d.png", ["a.mp4"], "out%03d.png", "only letters, digits"),
    ("-i a.mp4 out.m3u8", ["a.mp4"], "out.m3u8", "'out.m3u8' must end with one of"),
    ("-i a.mp4 out.mpd", ["a.mp4"], "out.mpd", "must end with one of"),
    ("-i a.mp4 out.sdp", ["a.mp4"], "out.sdp", "must end with one of"),
    ("-i a.mp4 -vstats_file /tmp/x out.mp4", ["a.mp4"], "out.mp4", "'-vstats_file'"),
    ("-i a.mp4 -vstats out.mp4", ["a.mp4"], "out.mp4", "'-vstats'"),
    ("-i a.mp4 -pass 1 -passlogfile /tmp/x out.mp4", ["a.mp4"], "out.mp4", "'-pass'"),
    ("-i a.mp4 -passlogfile /tmp/x out.mp4", ["a.mp4"], "out.mp4", "'-passlogfile'"),
    ("-report -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "'-report'"),
    ("-i a.mp4 -sdp_file /tmp/x out.mp4", ["a.mp4"], "out.mp4", "'-sdp_file'"),
    ("-dump_attachment:t /tmp/x -i a.mkv out.mp4", ["a.mkv"], "out.mp4", "'-dump_attachment:t'"),
    ("-i a.mp4 -attach /etc/passwd out.mkv", ["a.mp4"], "out.mkv", "'-attach'"),
    ("-i a.mp4 -progress /tmp/x out.mp4", ["a.mp4"], "out.mp4", "'-progress'"),
    ("-i a.mp4 -stats_enc_pre:v /tmp/x out.mp4", ["a.mp4"], "out.mp4", "'-stats_enc_pre:v'"),
    ("-print_graphs_file /tmp/x -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "'-print_graphs_file'"),
    ("-i a.mp4 other.mp4 out.mp4", ["a.mp4"], "out.mp4", "unexpected 'other.mp4'"),
    ("-i a.mp4 out.mp4 -y", ["a.mp4"], "out.mp4", "must be the last argument"),
    ("-i a.mp4 - out.mp4", ["a.mp4"], "out.mp4", "unexpected '-'"),
    ("-i a.mp4 -hls_segment_filename /tmp/%d.ts out.mp4", ["a.mp4"], "out.mp4",
     "'-hls_segment_filename'"),
)  # fmt: skip


@pytest.mark.parametrize(("command", "inputs", "output", "message"), OUTSIDE_WRITES)
async def test_writes_outside_the_work_folder_are_refused(
    command: str, inputs: list[str], output: str, message: str
) -> None:
    await _assert_refused(command, inputs, output, message)


# -- 5. exhaustion: time, memory, threads, size ------------------------------------------------

LONG_COMMAND = "-i a.mp4 " + " ".join(["-metadata title=x"] * 600) + " out.mp4"
NINE_INPUTS = " ".join(f"-i {n}.mp4" for n in range(9)) + " out.mp4"

EXHAUSTION = _rows(
    ("-stream_loop -1 -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "option '-stream_loop' is not allowed"),
    ("-re -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "'-re'"),
    ("-i a.mp4 -s 100000x100000 out.mp4", ["a.mp4"], "out.mp4",
     "value '100000x100000' of -s must be at most 7680x7680"),
    ("-i a.mp4 -vf scale=100000:100000 out.mp4", ["a.mp4"], "out.mp4",
     "value '100000' of scale option 'w' must be a width of at most 7680 pixels"),
    ("-i a.mp4 -vf scale=w=320:h=2M out.mp4", ["a.mp4"], "out.mp4", "value '2M' of scale option 'h'"),
    ("-i a.mp4 -vf scale=1e9:-1 out.mp4", ["a.mp4"], "out.mp4", "value '1e9'"),
    ("-i a.mp4 -vf 'scale=100000*100000:-2' out.mp4", ["a.mp4"], "out.mp4", "'100000*100000'"),
    ("-i a.mp4 -vf scale=size=99999x99999 out.mp4", ["a.mp4"], "out.mp4", "'99999x99999'"),
    ("-i a.mp4 -vf pad=20000:20000 out.mp4", ["a.mp4"], "out.mp4", "of pad option 'w'"),
    ("-i a.mp4 -vf rotate=1:ow=99999 out.mp4", ["a.mp4"], "out.mp4", "of rotate option 'ow'"),
    ("-i a.mp4 -vf fps=100000 out.mp4", ["a.mp4"], "out.mp4", "of fps option 'fps'"),
    ("-i a.mp4 -r 100000 out.mp4", ["a.mp4"], "out.mp4", "value '100000' of -r must be a frame rate"),
    ("-i a.mp4 -vf thumbnail=n=100000 out.mp4", ["a.mp4"], "out.mp4", "of thumbnail option 'n'"),
    ("-i a.mp4 -vf tile=100x100 out.mp4", ["a.mp4"], "out.mp4", "of tile option 'layout'"),
    ("-i a.mp4 -vf split=1000 out.mp4", ["a.mp4"], "out.mp4", "of split option 'outputs'"),
    ("-i a.mp4 -af atempo=1000 out.mp4", ["a.mp4"], "out.mp4", "of atempo option 'tempo'"),
    ("-i a.mp4 -vf 'select=while(1\\,1)' out.mp4", ["a.mp4"], "out.mp4",
     "function 'while' is not allowed"),
    ("-i a.mp4 -vf 'setpts=root(PTS\\,1e9)' out.mp4", ["a.mp4"], "out.mp4", "function 'root'"),
    # ffmpeg calls a function named at the start of a primary with the next '(' it finds:
    # this is while(1,1), an endless loop, though no '(' follows 'while'.
    ("-i a.mp4 -vf \"select='while*abs(1,1)'\" out.mp4", ["a.mp4"], "out.mp4",
     "'while' is the name of a function; ffmpeg calls it even without '('"),
    ("-i a.mp4 -vf \"scale=w='while*abs(1,1)':h=720\" out.mp4", ["a.mp4"], "out.mp4",
     "'while' is the name of a function"),
    ("-i a.mp4 -vf \"select='root+0*abs(1,1)'\" out.mp4", ["a.mp4"], "out.mp4",
     "'root' is the name of a function"),
    ("-i a.mp4 -vf \"setpts='print*abs(PTS)'\" out.mp4", ["a.mp4"], "out.mp4",
     "'print' is the name of a function"),
    # A no-break space ends the name to ffmpeg (av_isspace is ASCII only), not to str.split.
    ("-i a.mp4 -vf \"select='while\u00a0n*abs(1,1)'\" out.mp4", ["a.mp4"], "out.mp4",
     "'while' is the name of a function"),
    ("-i a.mp4 -vf \"select='print\x1cn*abs(1)'\" out.mp4", ["a.mp4"], "out.mp4",
     "'print' is the name of a function"),
    ("-i a.mp4 -threads 512 out.mp4", ["a.mp4"], "out.mp4", "value '512' of -threads"),
    ("-threads:v 64 -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "value '64' of -threads:v"),
    ("-filter_threads 64 -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "value '64' of -filter_threads"),
    ("-i a.mp4 -t 99999 out.mp4", ["a.mp4"], "out.mp4", "value '99999' of -t must be at most 14400"),
    ("-i a.mp4 -to 99:00:00 out.mp4", ["a.mp4"], "out.mp4", "value '99:00:00' of -to"),
    ("-t 1e9 -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "value '1e9' of -t"),
    ("-i a.mp4 -ar 10000000 out.mp4", ["a.mp4"], "out.mp4", "value '10000000' of -ar"),
    ("-i a.mp4 -ac 64 out.mp4", ["a.mp4"], "out.mp4", "value '64' of -ac"),
    ("-i a.mp4 -frames:v 999999999 out.mp4", ["a.mp4"], "out.mp4", "of -frames:v"),
    ("-i a.mp4 -b:v 100G out.mp4", ["a.mp4"], "out.mp4", "value '100G' of -b:v"),
    ("-i a.mp4 -max_muxing_queue_size 99999999 out.mp4", ["a.mp4"], "out.mp4",
     "of -max_muxing_queue_size"),
    ("-i a.mp4 -c:v h264_nvenc out.mp4", ["a.mp4"], "out.mp4", "value 'h264_nvenc' of -c:v"),
    (NINE_INPUTS, [f"{n}.mp4" for n in range(9)], "out.mp4", "reads 9 inputs; the limit is 8"),
    (LONG_COMMAND, ["a.mp4"], "out.mp4", "characters long; the limit is 8192"),
)  # fmt: skip


@pytest.mark.parametrize(("command", "inputs", "output", "message"), EXHAUSTION)
async def test_exhaustion_is_refused(
    command: str, inputs: list[str], output: str, message: str
) -> None:
    await _assert_refused(command, inputs, output, message)


# -- 6. things strict mode does not understand ----------------------------------------------------

UNKNOWN = _rows(
    ("-i a.mp4 -unknown_option 1 out.mp4", ["a.mp4"], "out.mp4", "'-unknown_option' is not allowed"),
    ("-i a.mp4 -c:x copy out.mp4", ["a.mp4"], "out.mp4", "unsupported specifier 'x'"),
    ("-i a.mp4 -vcodec:v libx264 out.mp4", ["a.mp4"], "out.mp4", "cannot take a specifier"),
    ("-i a.mp4 -movflags:v +faststart out.mp4", ["a.mp4"], "out.mp4", "does not take a ':'"),
    ("-i a.mp4 -map 0:#0x101 out.mp4", ["a.mp4"], "out.mp4", "-map '0:#0x101' must look like"),
    ("-i a.mp4 -map [nolabel] out.mp4", ["a.mp4"], "out.mp4", "names no output label"),
    ("-i a.mp4 -c:v out.mp4", ["a.mp4"], "out.mp4", "must end with the output name 'out.mp4'"),
    ("-i a.mp4 -an -shortest -c:v", ["a.mp4"], "out.mp4", "does not appear"),
    ("-i a.mp4 -vf 'scale=w=1280:720' out.mp4", ["a.mp4"], "out.mp4", "follows a named option"),
    ("-i a.mp4 -af 'atrim=0.5:1.5' out.mp4", ["a.mp4"], "out.mp4",
     "filter 'atrim' takes at most 1 positional value(s); give '1.5' as key=value"),
    ("-i a.mp4 -vf 'sws_flags=lanczos;scale=2:2' out.mp4", ["a.mp4"], "out.mp4", "sws_flags"),
    ("-i a.mp4 -vf 'scale=1:2[o] x' out.mp4", ["a.mp4"], "out.mp4", "cannot be parsed"),
    ("-i a.mp4 -vf '[in\\]x]scale' out.mp4", ["a.mp4"], "out.mp4", "link label"),
    ("-i a.mp4 -metadata title out.mp4", ["a.mp4"], "out.mp4", "must be key=value"),
    ("-vf hflip -i a.mp4 out.mp4", ["a.mp4"], "out.mp4", "'-vf' cannot be used on an input"),
    ("-i a.mp4 -sseof -1 out.mp4", ["a.mp4"], "out.mp4", "'-sseof' cannot be used on the output"),
    ("-i a.mp4 out.mp4", ["a.mp4", "b.mp4"], "out.mp4", "'b.mp4' is declared"),
    ("-i a.mp4 -metadata title=b.mp4 out.mp4", ["a.mp4", "b.mp4"], "out.mp4",
     "'b.mp4' is declared but never read with '-i b.mp4'"),
)  # fmt: skip


@pytest.mark.parametrize(("command", "inputs", "output", "message"), UNKNOWN)
async def test_what_strict_mode_does_not_understand_is_refused(
    command: str, inputs: list[str], output: str, message: str
) -> None:
    await _assert_refused(command, inputs, output, message)


# -- 7. tasks with several outputs: playlists, segments, sequences, more files -------------------

#: (command, inputs, main output, declared outputs, a piece of the error message)
SeveralRow = tuple[str, list[str], str, list[str], str]
HLS = "-i a.mp4 -c:v libx264 -f hls"


def _several(*rows: SeveralRow) -> list[object]:
    return [pytest.param(*row, id=f"{row[0][:50]} {row[3]}") for row in rows]


SEVERAL_OUTPUTS = _several(
    # file names that leave the work folder or are protocols
    (f"{HLS} -hls_segment_filename /tmp/seg%d.ts out.m3u8", ["a.mp4"], "out.m3u8", ["*.ts"],
     "'/tmp/seg%d.ts' of output 'out.m3u8' must be a plain file name"),
    (f"{HLS} -hls_segment_filename ../seg%d.ts out.m3u8", ["a.mp4"], "out.m3u8", ["*.ts"],
     "must be a plain file name"),
    (f"{HLS} -hls_segment_filename http://10.0.0.1/seg%d.ts out.m3u8", ["a.mp4"], "out.m3u8",
     ["*.ts"], "no folders, no protocols"),
    (f"{HLS} -hls_segment_filename file:seg%d.ts out.m3u8", ["a.mp4"], "out.m3u8", ["*.ts"],
     "must be a plain file name"),
    (f"{HLS} -master_pl_name /tmp/m.m3u8 out.m3u8", ["a.mp4"], "out.m3u8", ["*.ts"],
     "'/tmp/m.m3u8' of output 'out.m3u8' must be a plain file name"),
    (f"{HLS} -hls_segment_type fmp4 -hls_fmp4_init_filename /etc/init.mp4 out.m3u8",
     ["a.mp4"], "out.m3u8", ["*.m4s"], "must be a plain file name"),
    (f"{HLS} -master_pl_name out.m3u8 /tmp/s.m3u8", ["a.mp4"], "out.m3u8", ["*.ts"],
     "'/tmp/s.m3u8' of output '/tmp/s.m3u8' must be a plain file name"),
    (f"{HLS} -var_stream_map 'v:0,name:../x' 'out_%v.m3u8'", ["a.mp4"], "out_x.m3u8",
     ["*.ts", "*.m3u8"], "value 'v:0,name:../x' of -var_stream_map must be"),
    ("-i a.mp4 -c copy -f segment -segment_list /tmp/list.m3u8 seg%03d.ts", ["a.mp4"],
     "seg000.ts", ["seg%03d.ts"], "must be a plain file name"),
    ("-i a.mp4 -f dash -init_seg_name '/tmp/i$RepresentationID$.m4s' out.mpd", ["a.mp4"],
     "out.mpd", ["*.m4s", "*.webm"], "must be a plain file name"),
    ("-i a.mp4 -f dash -media_seg_name 'c$Foo$.m4s' out.mpd", ["a.mp4"], "out.mpd",
     ["*.m4s", "*.webm"], "may use only $RepresentationID$"),
    ("-i a.mp4 out.mp4 /tmp/poster.jpg", ["a.mp4"], "out.mp4", ["poster.jpg"],
     "must be a plain file name"),
    # options that write elsewhere, talk to a network, read files or make names from the clock
    (f"{HLS} -method PUT out.m3u8", ["a.mp4"], "out.m3u8", ["*.ts"], "'-method' is not allowed"),
    (f"{HLS} -http_user_agent x out.m3u8", ["a.mp4"], "out.m3u8", ["*.ts"],
     "'-http_user_agent' is not allowed"),
    (f"{HLS} -strftime 1 out.m3u8", ["a.mp4"], "out.m3u8", ["*.ts"], "'-strftime' is not allowed"),
    (f"{HLS} -strftime_mkdir 1 out.m3u8", ["a.mp4"], "out.m3u8", ["*.ts"],
     "'-strftime_mkdir' is not allowed"),
    (f"{HLS} -hls_key_info_file keys.txt out.m3u8", ["a.mp4"], "out.m3u8", ["*.ts"],
     "'-hls_key_info_file' is not allowed"),
    (f"{HLS} -hls_base_url http://evil.example/ out.m3u8", ["a.mp4"], "out.m3u8", ["*.ts"],
     "'-hls_base_url' is not allowed"),
    (f"{HLS} -hls_subtitle_path /tmp/s.m3u8 out.m3u8", ["a.mp4"], "out.m3u8", ["*.ts"],
     "'-hls_subtitle_path' is not allowed"),
    (f"{HLS} -hls_flags +append_list out.m3u8", ["a.mp4"], "out.m3u8", ["*.ts"],
     "value '+append_list' of -hls_flags must be flags from"),
    (f"{HLS} -hls_flags second_level_segment_index out.m3u8", ["a.mp4"], "out.m3u8", ["*.ts"],
     "of -hls_flags must be flags from"),
    (f"{HLS} -hls_flags delete_segments out.m3u8", ["a.mp4"], "out.m3u8", ["*.ts"],
     "of -hls_flags must be flags from"),
    ("-i a.mp4 -f dash -single_file 1 out.mpd", ["a.mp4"], "out.mpd", ["*.m4s", "*.webm"],
     "'-single_file' is not allowed"),
    ("-i a.mp4 -f dash -hls_playlist 1 out.mpd", ["a.mp4"], "out.mpd", ["*.m4s", "*.webm"],
     "'-hls_playlist' is not allowed"),
    ("-i a.mp4 -c copy -f segment -segment_list_entry_prefix http://x/ seg%03d.ts", ["a.mp4"],
     "seg000.ts", ["seg%03d.ts"], "'-segment_list_entry_prefix' is not allowed"),
    ("-i a.mp4 -c copy -f segment -segment_format hls seg%03d.ts", ["a.mp4"], "seg000.ts",
     ["seg%03d.ts"], "value 'hls' of -segment_format is not allowed"),
    ("-i a.mp4 -c copy -f segment -segment_format tee seg%03d.ts", ["a.mp4"], "seg000.ts",
     ["seg%03d.ts"], "value 'tee' of -segment_format"),
    ("-i a.mp4 -f tee '[f=mp4]/tmp/b.mp4|b.mp4' out.mp4", ["a.mp4"], "out.mp4", ["b.mp4"],
     "value 'tee' of -f is not allowed: tee names its files"),
    ("-i a.mp4 -f tee out.mp4", ["a.mp4"], "out.mp4", ["poster.jpg"], "write several outputs"),
    # files nobody declared
    (f"{HLS} out.m3u8", ["a.mp4"], "out.m3u8", ["seg*.ts"],
     "writes 'out%d.ts' (the default segment name), which is not a declared output"),
    ("-i a.mp4 out.mp4 other.mp4", ["a.mp4"], "out.mp4", ["poster.jpg"],
     "writes 'other.mp4' (the output name), which is not a declared output"),
    ("-i a.mp4 out.mp4 a.mp4", ["a.mp4"], "out.mp4", ["poster.jpg"],
     "writes 'a.mp4' (the output name), which is not a declared output"),
    ("-i a.mp4 -vf fps=1 img_%03d.jpg", ["a.mp4"], "thumb_001.jpg", ["thumb_%03d.jpg"],
     "writes 'img_%03d.jpg'"),
    ("-i a.mp4 -vf fps=1 thumb_%d.jpg", ["a.mp4"], "thumb_001.jpg", ["thumb_%03d.jpg"],
     "writes 'thumb_%d.jpg'"),
    ("-i a.mp4 -f dash out.mpd", ["a.mp4"], "out.mpd", ["*.m4s"],
     "writes 'init-stream%d.webm' (the default init_seg_name)"),
    # names ffmpeg would not expand, or expands from the clock or from stream metadata
    ("-i a.mp4 -c copy -f segment seg.ts", ["a.mp4"], "seg.ts", ["seg*.ts"],
     "the segment muxer numbers its files"),
    ("-i a.mp4 out.mp4 part_%d.mp4", ["a.mp4"], "out.mp4", ["part_*.mp4"],
     "has a %d that only the image2 and segment muxers expand"),
    ("-i a.mp4 -vf fps=1 thumb_%s.jpg", ["a.mp4"], "thumb_1.jpg", ["thumb_*.jpg"],
     "must be a plain file name"),
    (f"{HLS} 'out_%v.m3u8'", ["a.mp4"], "out_0.m3u8", ["*.ts", "*.m3u8"],
     "uses %v without -var_stream_map"),
    # limits: one image per frame, segment lengths
    ("-i a.mp4 -frames:v 99999 thumb_%03d.jpg", ["a.mp4"], "thumb_001.jpg", ["thumb_%03d.jpg"],
     "makes more files than the 10000 a task may write"),
    ("-i a.mp4 -c copy -f segment -segment_time 0.01 seg%03d.ts", ["a.mp4"], "seg000.ts",
     ["seg%03d.ts"], "value '0.01' of -segment_time must be a duration from 0.5"),
    (f"{HLS} -hls_time 0.01 out.m3u8", ["a.mp4"], "out.m3u8", ["*.ts"], "value '0.01' of -hls_time"),
    # muxer options on another muxer
    ("-i a.mp4 -hls_time 2 out.mp4", ["a.mp4"], "out.mp4", ["poster.jpg"],
     "option '-hls_time' is for the hls muxer"),
    ("-i a.mp4 -segment_list list.m3u8 out.mp4", ["a.mp4"], "out.mp4", ["list.m3u8"],
     "option '-segment_list' is for the segment muxer"),
    # patterns that leave the folder, match anything, or match an input
    ("-i a.mp4 out.mp4", ["a.mp4"], "out.mp4", ["../*.ts"], "may use only letters, digits"),
    ("-i a.mp4 out.mp4", ["a.mp4"], "out.mp4", ["/tmp/*.ts"], "may use only letters, digits"),
    ("-i a.mp4 out.mp4", ["a.mp4"], "out.mp4", ["sub/x.ts"], "no folders"),
    ("-i a.mp4 out.mp4", ["a.mp4"], "out.mp4", ["file:*.ts"], "may use only letters"),
    ("-i a.mp4 out.mp4", ["a.mp4"], "out.mp4", ["*"], "must end with a plain extension"),
    ("-i a.mp4 out.mp4", ["a.mp4"], "out.mp4", ["out.*"], "must end with a plain extension"),
    ("-i a.mp4 out.mp4", ["a.mp4"], "out.mp4", [".hidden*.ts"], "must start with a letter"),
    ("-i a.mp4 out.mp4", ["a.mp4"], "out.mp4", ["*.txt"], "'*.txt' must end with one of"),
    ("-i a.mp4 out.mp4", ["a.mp4"], "out.mp4", ["*.mp4"],
     "output pattern '*.mp4' matches input 'a.mp4'"),
    ("-i clip_001.jpg out.mp4", ["clip_001.jpg"], "out.mp4", ["clip_%03d.jpg"],
     "matches input 'clip_001.jpg'"),
    ("-i a.mp4 out.mp4", ["a.mp4"], "out.mp4", [f"x{n}.jpg" for n in range(65)],
     "the limit is 64"),
)  # fmt: skip


@pytest.mark.parametrize(("command", "inputs", "output", "outputs", "message"), SEVERAL_OUTPUTS)
async def test_what_several_outputs_may_not_write_is_refused(
    command: str, inputs: list[str], output: str, outputs: list[str], message: str
) -> None:
    env = fakes()
    files = {name: url(name) for name in inputs}
    with pytest.raises(InvalidTaskError) as info:
        await env.manager.register(command, files, output, outputs=outputs)
    assert message in str(info.value), str(info.value)
    assert env.fetcher.fetched == []
    assert await env.manager.list() == []
