"""An infinite loop that swallows every interruption (``except BaseException``), so an
in-process timer alone cannot stop it."""


def policy(state, agent_id):
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
