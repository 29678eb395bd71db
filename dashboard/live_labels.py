"""Labels of the live-operations pages: the live strip, the hotline and the board."""

from __future__ import annotations

LIVE_TEXT: dict[str, dict[str, str]] = {
    "hotline": {"zh": "热线受理", "en": "Hotline intake"},
    "board": {"zh": "督办看板", "en": "Supervision board"},
    "live_caption": {
        "zh": "实时：每 {seconds} 秒检查新案件和变化（上次 {at}）",
        "en": "Live: new and changed cases checked every {seconds} s (last {at})",
    },
    "live_nothing_yet": {
        "zh": "打开本页以来暂无新案件或变化",
        "en": "No new or changed cases since this page opened",
    },
    "live_new": {"zh": "新上报", "en": "New report"},
    "live_urgent": {"zh": "紧急新案件：", "en": "Urgent new cases:"},
    "live_urgent_toast": {"zh": "紧急新案件 {case_no}", "en": "Urgent new case {case_no}"},
    "live_acknowledge": {"zh": "已知悉", "en": "Acknowledge"},
    "live_tiles_note": {
        "zh": "地图以矢量瓦片绘制全部 {n:,} 件在办案件（列表显示最紧迫的部分）",
        "en": "The map draws all {n:,} open cases as vector tiles (the queue lists the most "
        "pressing)",
    },
    "live_new_count": {"zh": "待受理", "en": "Waiting to accept"},
    "live_urgent_count": {"zh": "紧急", "en": "Urgent"},
    "urgency": {"zh": "紧急程度", "en": "Urgency"},
    "urgency_normal": {"zh": "一般", "en": "Normal"},
    "urgency_urgent": {"zh": "紧急", "en": "Urgent"},
    "act_escalate": {"zh": "督办（报值班长）", "en": "Escalate to the shift leader"},
    # hotline
    "hl_intro": {
        "zh": "为来电市民登记诉求：来电人信息单独保存并脱敏显示，来源记为热线。",
        "en": "Register a caller's report: caller details are stored apart and shown masked; "
        "the source is recorded as hotline.",
    },
    "hl_caller_name": {"zh": "来电人姓名（可匿名）", "en": "Caller's name (may be anonymous)"},
    "hl_caller_phone": {"zh": "来电号码", "en": "Caller's phone"},
    "hl_category": {"zh": "问题类别", "en": "Category"},
    "hl_place_search": {
        "zh": "地点搜索（地址、道路、社区、网格或部件编码）",
        "en": "Find the place (address, road, community, grid or part code)",
    },
    "hl_place_pick": {"zh": "选择地点", "en": "Pick the place"},
    "hl_no_places": {"zh": "没有找到“{text}”", "en": "Nothing found for “{text}”"},
    "hl_map_click": {
        "zh": "或在地图上点击位置",
        "en": "Or click the place on the map",
    },
    "hl_location": {
        "zh": "位置：{lat:.5f}, {lon:.5f}（{how}）",
        "en": "Location: {lat:.5f}, {lon:.5f} ({how})",
    },
    "hl_from_search": {"zh": "来自搜索", "en": "from the search"},
    "hl_from_map": {"zh": "来自地图点击", "en": "from a map click"},
    "hl_no_location": {"zh": "尚未选择位置", "en": "No location chosen yet"},
    "hl_description": {"zh": "诉求描述", "en": "What the caller reports"},
    "hl_urgent": {"zh": "紧急（危及人身或交通安全）", "en": "Urgent (endangers people or traffic)"},
    "hl_submit": {"zh": "登记来电", "en": "Register the call"},
    "hl_done": {"zh": "已登记为案件 {case_no}", "en": "Registered as case {case_no}"},
    "hl_again": {
        "zh": "此来电已登记为案件 {case_no}（未重复登记）",
        "en": "This call was already registered as case {case_no} (not registered twice)",
    },
    "hl_new_call": {"zh": "下一个来电", "en": "Next call"},
    "hl_duplicates": {
        "zh": "附近 {metres:.0f} 米内 30 天内的在办案件（可能重复）：",
        "en": "Open cases within {metres:.0f} m in the last 30 days (possible duplicates):",
    },
    "hl_no_duplicates": {
        "zh": "附近没有同类在办案件",
        "en": "No open case of this category nearby",
    },
    "hl_duplicate_line": {
        "zh": "{case_no} · {category} · {status} · {metres:.0f} 米",
        "en": "{case_no} · {category} · {status} · {metres:.0f} m",
    },
    "place_building": {"zh": "建筑", "en": "Building"},
    "place_road": {"zh": "道路", "en": "Road"},
    "place_community": {"zh": "社区", "en": "Community"},
    "place_grid": {"zh": "网格", "en": "Grid"},
    "place_part": {"zh": "部件", "en": "Part"},
    # board
    "bd_intro": {
        "zh": "各部门临近（黄）或已超过（红）处置时限的案件，按工作时间计算。",
        "en": "Per department, cases near (yellow) or past (red) their deadline, "
        "counted in working hours.",
    },
    "bd_department": {"zh": "部门", "en": "Department"},
    "bd_yellow": {"zh": "黄牌·临期", "en": "Yellow · due soon"},
    "bd_red": {"zh": "红牌·超期", "en": "Red · overdue"},
    "bd_escalated": {"zh": "已督办", "en": "Escalated"},
    "bd_supervised": {"zh": "在办（有时限）", "en": "In handling (with deadline)"},
    "bd_mark": {"zh": "标记", "en": "Mark"},
    "bd_mark_yellow": {"zh": "黄牌·临期", "en": "Yellow · due soon"},
    "bd_mark_red": {"zh": "红牌·超期", "en": "Red · overdue"},
    "bd_hours_left": {"zh": "剩余工时", "en": "Working hours left"},
    "bd_limit_hours": {"zh": "时限（工时）", "en": "Limit (working hours)"},
    "bd_deadline": {"zh": "截止时间", "en": "Deadline"},
    "bd_escalated_at": {"zh": "督办时间", "en": "Escalated at"},
    "bd_nothing": {"zh": "没有临期或超期案件", "en": "No case is near or past its deadline"},
    "bd_escalate_title": {"zh": "督办：报值班长", "en": "Escalate to the shift leader"},
    "bd_escalate_case": {"zh": "案件", "en": "Case"},
    "bd_escalate_reason": {"zh": "督办理由", "en": "Reason"},
    "bd_escalate_submit": {"zh": "督办", "en": "Escalate"},
    "bd_escalate_done": {
        "zh": "案件 {case_no} 已督办，已记入案件历史",
        "en": "Case {case_no} escalated; recorded in its history",
    },
    "bd_only_operator": {
        "zh": "督办由受理员提出，值班长在此查看已督办案件。",
        "en": "Operators escalate; the shift leader sees escalated cases here.",
    },
}
"""Key -> {"zh": …, "en": …}; merged into :data:`dashboard.labels.TEXT`."""
