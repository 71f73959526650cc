"""Pictures over OneBot v12: an `image` segment names a file the implementation already holds,
so the PNG is uploaded first (`upload_file`, type `data`) and the segment carries its
`file_id` (OneBot v12 §file, §message segment image)."""

from __future__ import annotations

import hashlib

from nonebot.adapters.onebot import v12


async def upload_image(bot: v12.Bot, data: bytes) -> str:
    """Upload a PNG; returns the implementation's file id for an `image` segment."""
    digest = hashlib.sha256(data).hexdigest()
    result = await bot.upload_file(
        type="data", name=f"kpi-{digest[:16]}.png", data=data, sha256=digest
    )
    return str(result["file_id"])
