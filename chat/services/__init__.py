"""Chat's writes, one function per use case, in modules by entity: messages,
rooms, members (and member_rows, shared by the two), attachments, people
(account changes that reach into chat), common (the seq, the message insert,
system lines, audit, text checks).

Only chat.commands calls these (import-linter enforces it): the edges call a
command, which resolves ids, rate-limits and renders around one service.
"""
