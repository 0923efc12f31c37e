"""The strict policy's lists of names: codecs, muxers, demuxers, pixel formats, file types.

Software codecs and file-based formats only: no devices, no playlists, no network formats.
Applications add more with ``CommandPolicy.allowing``.
"""

from __future__ import annotations

__all__ = [
    "CODECS",
    "DEMUXERS",
    "INPUT_EXTENSIONS",
    "MUXERS",
    "OUTPUT_EXTENSIONS",
    "PIXEL_FORMATS",
]

#: Encoders (and decoders, for ``-c`` before ``-i``) strict mode allows; no hardware ones.
CODECS = frozenset(
    {
        "copy",
        # video
        "libx264", "h264", "libx265", "hevc", "libvpx", "vp8", "libvpx-vp9", "vp9",
        "libaom-av1", "libsvtav1", "libdav1d", "av1", "mpeg4", "mpeg2video", "mjpeg", "png",
        "gif", "apng", "libwebp", "libwebp_anim", "prores", "prores_ks", "ffv1", "libtheora",
        # audio
        "aac", "libmp3lame", "mp3", "libopus", "opus", "libvorbis", "vorbis", "flac", "alac",
        "ac3", "eac3", "mp2", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_u8",
        "pcm_s16be", "pcm_mulaw", "pcm_alaw",
        # subtitles (text only)
        "mov_text", "srt", "subrip", "webvtt", "ass",
    }
)  # fmt: skip

#: Muxers ``-f`` may name for the output.
MUXERS = frozenset(
    {
        "mp4", "mov", "ipod", "matroska", "webm", "mp3", "wav", "flac", "ogg", "opus",
        "adts", "gif", "image2", "mpegts", "webp", "apng", "aiff",
    }
)  # fmt: skip

#: Demuxers an input may be read with: the ``-format_whitelist`` guard and ``-f`` on inputs.
#: ``mov`` also stands for mp4/m4a/3gp, ``matroska`` for webm. No playlists (hls, dash,
#: concat), no devices, no lavfi, no network formats.
DEMUXERS = frozenset(
    {
        "mov", "mp4", "m4a", "3gp", "matroska", "webm", "mp3", "wav", "flac", "ogg", "aac",
        "mpegts", "avi", "flv", "gif", "image2", "png_pipe", "jpeg_pipe", "bmp_pipe",
        "webp_pipe", "aiff",
    }
)  # fmt: skip

#: File name extensions (lower case) an input may have: media, never playlists or lists.
INPUT_EXTENSIONS = frozenset(
    {
        "mp4", "m4v", "m4a", "mov", "3gp", "mkv", "mka", "webm", "mp3", "wav", "flac", "ogg",
        "oga", "ogv", "opus", "aac", "ts", "avi", "flv", "gif", "jpg", "jpeg", "png", "bmp",
        "webp", "aiff", "aif",
    }
)  # fmt: skip

#: File name extensions the output may have: each picks an allowed muxer.
OUTPUT_EXTENSIONS = frozenset(
    {
        "mp4", "m4v", "m4a", "mov", "mkv", "mka", "webm", "mp3", "wav", "flac", "ogg", "oga",
        "ogv", "opus", "aac", "ts", "gif", "jpg", "jpeg", "png", "webp", "aiff",
    }
)  # fmt: skip

#: Pixel formats for ``-pix_fmt``.
PIXEL_FORMATS = frozenset(
    {
        "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv420p10le",
        "yuv422p10le", "yuv444p10le", "yuva420p", "nv12", "nv21", "p010le", "rgb24", "bgr24",
        "rgba", "bgra", "argb", "abgr", "gray", "gray10le", "pal8", "gbrp", "gbrp10le",
    }
)  # fmt: skip
