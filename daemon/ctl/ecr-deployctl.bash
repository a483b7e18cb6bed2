# SPDX-License-Identifier: MIT
# bash completion for ecr-deployctl(8): commands, options, and the watch and target names of the
# running daemon (asked with the hidden command `ecr-deployctl __complete targets|watches`, which
# prints one name per line and nothing when the daemon cannot be reached).

# The names of kind $1 (targets or watches) from the daemon at the socket in _ecr_deployctl_sock.
_ecr_deployctl_names()
{
	ecr-deployctl "${_ecr_deployctl_sock[@]}" --timeout 2 __complete "$1" 2>/dev/null
}

_ecr_deployctl()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local commands="status history pause resume pin unpin deploy rollback retry approve reject reload metrics version"
	local globals="--socket --timeout --json --help --version"
	local i cmd="" cmdi=0
	_ecr_deployctl_sock=()
	COMPREPLY=()

	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-s | --socket)
			_ecr_deployctl_sock=(--socket "${COMP_WORDS[i + 1]}")
			((i++))
			;;
		--socket=*) _ecr_deployctl_sock=("${COMP_WORDS[i]}") ;;
		--timeout) ((i++)) ;;
		-*) ;;
		*)
			cmd=${COMP_WORDS[i]}
			cmdi=$i
			break
			;;
		esac
	done

	case $prev in
	-s | --socket)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return 0
		;;
	--timeout | --reason | --digest | -n) return 0 ;;
	--until)
		mapfile -t COMPREPLY < <(compgen -W "30m 1h 2h 1d" -- "$cur")
		return 0
		;;
	--target)
		mapfile -t COMPREPLY < <(compgen -W "$(_ecr_deployctl_names targets)" -- "$cur")
		return 0
		;;
	esac

	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "$globals" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
		fi
		return 0
	fi

	# The command's arguments before the word being completed.
	local npos=0
	for ((i = cmdi + 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--reason | --until | --digest | --target | -n) ((i++)) ;;
		-*) ;;
		*) ((npos++)) ;;
		esac
	done

	local opts="--json" kinds=""
	case $cmd in
	history)
		opts="-n --json"
		((npos == 0)) && kinds="watches targets"
		;;
	pause)
		opts="--all --reason --until --json"
		((npos == 0)) && kinds="watches targets"
		;;
	resume)
		opts="--all --json"
		((npos == 0)) && kinds="watches targets"
		;;
	pin)
		opts="--force --json"
		((npos == 0)) && kinds="targets"
		;;
	unpin | rollback | retry | approve | reject)
		((npos == 0)) && kinds="targets"
		;;
	deploy)
		opts="--digest --target --force --json"
		((npos == 0)) && kinds="watches"
		;;
	metrics) opts="" ;;
	esac

	local words=$opts kind
	for kind in $kinds; do
		words="$words $(_ecr_deployctl_names "$kind")"
	done
	mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
	return 0
}

complete -F _ecr_deployctl ecr-deployctl
